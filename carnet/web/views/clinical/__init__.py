"""Staff pages of the clinical record: the chart, its forms, printable prescriptions and
documents. Each view parses input, calls one function of the clinical domain (which goes
through the guard) and renders what it was handed."""
