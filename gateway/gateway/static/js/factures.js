// The provider's form is sent at once; without JavaScript the parent presses "Continuer vers le paiement".
document.querySelectorAll("form[data-auto-submit]").forEach(function (form) { form.submit(); });
