"""Settings for tiny clip runs (64 px, a few steps, no face detection), shared by the video tests."""

TINY = {"size": 64, "steps": 3, "frame_steps": 2, "keep_faces": False}
