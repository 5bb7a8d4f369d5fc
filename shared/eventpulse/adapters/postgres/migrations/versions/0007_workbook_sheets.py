"""Remember the sheets of the last workbook a dataset loaded, so a sheet added or removed is drift.

``datasets.workbook_sheets`` is the JSON list of sheet names, in workbook order, of the last XLSX
file loaded into the dataset (NULL until one is). A workbook whose sheets differ is reported as
``sheet_added`` / ``sheet_removed`` changes in its drift artifact (docs/SCHEMA_DRIFT.md, "Workbooks").

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("workbook_sheets", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("datasets", "workbook_sheets")
