"""Reference pipelines built on the Pitlane toolkit."""
