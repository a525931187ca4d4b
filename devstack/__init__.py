"""The local development stack: private Redis, PostgreSQL and Asterisk processes, simulated calls and
SIP peers, used by `hotline up` and by the tests. Nothing in the domain packages imports it."""
