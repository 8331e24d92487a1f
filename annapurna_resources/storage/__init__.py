"""Where state is kept: the blob store (local or S3), the paper index (SQLite or OpenSearch), and the blob server."""
