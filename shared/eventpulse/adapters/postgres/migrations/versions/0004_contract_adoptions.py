"""Contract adoptions: which version of a dataset's contract is current, since when, and who chose it.

A dataset's contract used to be only its file, ``contracts/<dataset>.json``. Contracts can now be
saved through the API (admins), and a file edit is a change too: each adoption is a row here, the
newest one per dataset is current, and the bodies stay in ``contract_versions``.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_adoptions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("adopted_by", sa.Text, nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("note", sa.Text),
        sa.ForeignKeyConstraint(
            ["dataset", "version"], ["contract_versions.dataset", "contract_versions.version"]
        ),
        sa.CheckConstraint("source IN ('file', 'api')", name="ck_contract_adoptions_source"),
    )
    # The current contract of a dataset is its newest adoption: one index scan, backwards.
    op.create_index("ix_contract_adoptions_dataset_id", "contract_adoptions", ["dataset", "id"])


def downgrade() -> None:
    op.drop_table("contract_adoptions")
