"""The one way Carnet writes a PDF (carnet/printing/pdf.py)."""
