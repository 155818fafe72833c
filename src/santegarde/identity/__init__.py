"""Identity: who is asking — accounts, passwords, second factors, lockout, sessions, grants and reviews."""
