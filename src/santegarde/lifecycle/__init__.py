"""The life of the data beyond daily work: encrypted backups, verified restores, drills (COM-BAK-1, SEC-SAU-1..4)."""

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
from santegarde.lifecycle.restore import (
    DrillReport,
    RestoreFailed,
    RestoreRefused,
    RestoreReport,
    restore_organisation,
    run_drill,
)

__all__ = [
    "BackupInfo",
    "BackupRefused",
    "DrillReport",
    "RestoreFailed",
    "RestoreRefused",
    "RestoreReport",
    "Scratch",
    "VerifyReport",
    "create_backup",
    "forget_patient_keys",
    "list_backups",
    "restore_key_escrow",
    "restore_organisation",
    "restore_to_scratch",
    "run_drill",
    "verify_backup",
]
