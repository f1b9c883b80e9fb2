"""The sign-in forms (WTForms). CSRF is checked for the whole app by CSRFProtect, so the
forms themselves do not carry a second check; templates add `csrf_token()`."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

EMAIL_REQUIRED = "Saisissez votre adresse e-mail."
EMAIL_INVALID = "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."
PASSWORD_REQUIRED = "Saisissez votre mot de passe."


class _Form(FlaskForm):
    class Meta:
        csrf = False


def _email_field():
    return EmailField("Adresse e-mail", validators=[
        DataRequired(EMAIL_REQUIRED), Length(max=320, message=EMAIL_INVALID),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=EMAIL_INVALID)])


class LoginForm(_Form):
    email = _email_field()
    # No length rule here: an over-long password is simply wrong (checked by the hash).
    password = PasswordField("Mot de passe", validators=[DataRequired(PASSWORD_REQUIRED), Length(max=1024)])
    next = HiddenField()
    prompt = HiddenField()


class TotpForm(_Form):
    code = StringField("Code à 6 chiffres", validators=[
        DataRequired("Saisissez le code affiché par votre application."),
        Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Le code comporte 6 chiffres.")])


class ForgotPasswordForm(_Form):
    email = _email_field()


class ResetPasswordForm(_Form):
    password = PasswordField("Nouveau mot de passe", validators=[DataRequired("Choisissez un nouveau mot de passe.")])
    confirm = PasswordField("Confirmez le nouveau mot de passe", validators=[
        DataRequired("Saisissez à nouveau le mot de passe."),
        EqualTo("password", message="Les deux mots de passe ne sont pas identiques.")])
