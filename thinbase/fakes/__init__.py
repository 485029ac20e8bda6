"""Local fakes of the services thinbase talks to (payments, AI, email), served over real HTTP on 127.0.0.1."""
