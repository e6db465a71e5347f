"""The jobs: what runs over a database, step by step.

``pipeline`` (ingest → features → fit → report → assign, and a pipeline file run
whole), ``pipeline_config`` (that file read and checked), ``live`` (events →
features → segments for the service), ``activation`` (audiences, exports,
campaigns), and the operations around a live segmentation: ``compare``,
``drift_check``, ``refresh`` and ``stream``. The layers below hold the parts
(io, features, segment, store …); the service and the command call these.
"""
