"""The trn1 launcher: hosts (local, SSH, SSM on EC2) and the batch runner that runs on them."""
