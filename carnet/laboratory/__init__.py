"""The laboratory: orders of tests (LOINC-coded catalogue), specimens, results with units,
reference ranges and flags, validation, blood group. Part of the clinical record, kept as its
own app because a laboratory runs as its own service, often for several establishments."""
