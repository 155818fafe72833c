"""The life of the data beyond daily work: encrypted backups with a verified restore (COM-BAK-1, SEC-SAU-1..3)."""

from santegarde.lifecycle.backup import (
    BackupInfo,
    BackupRefused,
    Scratch,
    VerifyReport,
    create_backup,
    forget_patient_keys,
    list_backups,
    restore_key_escrow,
    restore_to_scratch,
    verify_backup,
)

__all__ = [
    "BackupInfo",
    "BackupRefused",
    "Scratch",
    "VerifyReport",
    "create_backup",
    "forget_patient_keys",
    "list_backups",
    "restore_key_escrow",
    "restore_to_scratch",
    "verify_backup",
]
