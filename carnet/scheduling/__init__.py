"""Scheduling: agendas (of practitioners and of resources), opening hours, absences,
consultation types, free slots and appointments with their history. No two appointments of one
agenda overlap, ever: the database enforces it. Appointments open care relationships."""
