"""What is done to rows, one module a stage, each a function over Arrow tables that keeps rows
or rejects them with a reason: `validate`, `clean`, `langid`, `decontaminate`, `dedup` (with
`normalize`, the text form they compare)."""
