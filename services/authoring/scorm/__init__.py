"""SCORM import: the streamed upload, the import jobs, the sandboxed worker process."""
