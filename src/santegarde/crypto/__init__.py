"""Keys and encryption: master key from a passphrase keystore, versioned data keys per family, AES-256-GCM."""

from santegarde.crypto.envelope import DecryptionRefused, decrypt, encrypt
from santegarde.crypto.keyring import KeyFamily, Keyring, create_keyring, load_keyring
from santegarde.crypto.keystore import (
    KeystoreError,
    MasterKey,
    PassphraseMasterKey,
    ScryptParams,
    check_passphrase,
    create_keystore,
    open_keystore,
)

__all__ = [
    "DecryptionRefused",
    "KeyFamily",
    "Keyring",
    "KeystoreError",
    "MasterKey",
    "PassphraseMasterKey",
    "ScryptParams",
    "check_passphrase",
    "create_keyring",
    "create_keystore",
    "decrypt",
    "encrypt",
    "load_keyring",
    "open_keystore",
]
