"""Background work: the job queue, its tasks and the worker."""
