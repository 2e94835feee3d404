"""The run's plumbing, around the lifecycle in `idexp.train`: checks before Hydra makes the folder (preflight),
one launch per folder (lock), the record in results.json (record), skip/resume/refuse a folder that holds a
run (relaunch), stops that leave a consistent folder (interrupts), bounded logger start (loggers), memory
messages (memory) and the sweep launchers' plugins (launchers)."""
