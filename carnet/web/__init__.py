"""Staff web pages: sign-in with a second factor, dashboard, patient search and identity pages.
Views parse input, call one domain function, and render; they hold no rule and never import
a patient model or the vault."""
