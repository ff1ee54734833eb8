"""The values a recipe's options may take, as plain data.

Front ends offer them as choices (the CLI's ``--method`` and ``--dtype``) without importing
:mod:`.lineage`, which pulls in the operations and with them torch. :mod:`.lineage` checks
specs and recipe files against the same values; ``tests/test_ops_cli.py`` pins the two equal
until lineage imports them from here.
"""

from __future__ import annotations

#: Storage dtypes of ``bake`` and ``extract`` outputs.
DTYPES: tuple[str, ...] = ("fp16", "bf16", "fp32")
#: ``mix`` methods: ``concat`` (exact, ranks add up) or ``svd`` (to a rank).
MIX_METHODS: tuple[str, ...] = ("concat", "svd")
