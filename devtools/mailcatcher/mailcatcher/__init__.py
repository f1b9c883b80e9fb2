"""Development mail catcher: aiosmtpd SMTP server + a tiny JSON HTTP API over the caught mails."""
