"""The index on disk: its folder, versions, manifest, build, loading and vector stores."""
