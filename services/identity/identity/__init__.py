"""Identity service: family accounts, households, communes, the OpenID Connect provider."""
