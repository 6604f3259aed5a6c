"""The waiting-room screen: ticket numbers and room names, for a device holding a revocable
token scoped to one waiting room. It shows no name, no birth date, no motive, and its token
opens nothing else."""
