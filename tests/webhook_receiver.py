"""A webhook receiver for the tests: a real HTTP server on loopback, in its own process.

    python tests/webhook_receiver.py LOG SECRET PORT [--die-on-batch K]

It checks each POST's ``X-Userseg-Signature``, records the batch in the JSON-lines
file LOG (flushed and fsynced before it answers) and dedupes on ``Idempotency-Key``:
a key already in LOG is recorded as a duplicate and acknowledged again, as a
receiver must. With ``--die-on-batch K`` it kills itself (SIGKILL) right after
recording batch K and before answering: the sender sees the connection drop.
It prints its port on the first line of stdout once it listens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> None:
    log_path, secret, port = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    die_on = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--die-on-batch" else None
    seen: set[str] = set()
    if os.path.exists(log_path):
        with open(log_path) as fh:
            seen = {json.loads(line)["key"] for line in fh if line.strip()}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, self.headers.get("X-Userseg-Signature", "")):
                self._answer(401, {"error": "bad signature"})
                return
            key = self.headers["Idempotency-Key"]
            payload = json.loads(body)
            record = {
                "key": key,
                "batch": payload["batch"],
                "n_batches": payload["n_batches"],
                "user_ids": [m["user_id"] for m in payload["members"]],
                "duplicate": key in seen,
            }
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            seen.add(key)
            if die_on is not None and payload["batch"] == die_on:
                os.kill(os.getpid(), signal.SIGKILL)  # recorded, never answered
            self._answer(200, {"status": "duplicate" if record["duplicate"] else "accepted"})

        def _answer(self, status: int, doc: dict) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
