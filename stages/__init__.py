"""The pipeline of dvc.yaml: one module per stage (fetch, prepare, train, evaluate) and the
report package; what the stages share lives in stages.common."""
