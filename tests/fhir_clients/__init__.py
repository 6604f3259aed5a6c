"""Getting SMART tokens the way a real app does (authorization code with PKCE through the
staff consent page, or client credentials), for the FHIR tests; and the JS client."""
