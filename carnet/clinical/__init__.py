"""The clinical record: encounters and admissions, notes with addenda, prescriptions,
laboratory orders and results, documents, and the sensitive categories that stay masked."""
