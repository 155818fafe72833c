"""The head of the trail carries its seal; a new trail starts with an unsealed head at 0 ("never used").

The seal needs the audit-sealing key, which a migration does not have: the trail's first entry,
written when the organisation first opens with its keys, seals the head. A trail migrated from a001
keeps an unsealed head until ``santegarde audit seal-head`` (after ``audit verify``) seals it.

Revision ID: a002
Revises: a001
"""

import sqlalchemy as sa
from alembic import op

revision = "a002"
down_revision = "a001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.add_column("audit_head", sa.Column("seal", sa.String(64), nullable=True))
    bind = op.get_bind()
    used = (
        bind.execute(sa.text("SELECT count(*) FROM audit_head")).scalar_one()
        or bind.execute(sa.text("SELECT count(*) FROM audit_entry")).scalar_one()
    )
    if not used:
        bind.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)"), {"genesis": GENESIS})


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM audit_head WHERE seq = 0 AND seal IS NULL"))
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("seal")
