"""The bank's HTML pages, in French: the payment page, the error page, the hand-back form.

Plain HTML and a little CSS, no script needed (the hand-back form submits itself with one line
of script and keeps a button for when scripts are off). Readable from 320 px wide.
"""
from __future__ import annotations

from html import escape

from fakebank.store import Transaction

_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b1b1b;background:#eef1f6;
line-height:1.5;font-size:1rem}
.brand{background:#12355b;color:#fff;padding:.75rem 1rem;margin:0;font-weight:700;font-size:1.1rem}
.notice{background:#fff4d6;color:#3d2c00;border-bottom:1px solid #d9b64c;padding:.5rem 1rem;margin:0;font-size:.95rem}
main{max-width:32rem;margin:1.5rem auto;padding:0 1rem}
.card{background:#fff;border-radius:.5rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 1rem}
.amount{font-size:2rem;font-weight:700;margin:.25rem 0 1rem}
dl{margin:0 0 1.25rem;display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;flex-direction:column;gap:.75rem}
button,.button{display:block;width:100%;min-height:3rem;padding:.75rem 1rem;border-radius:.375rem;font-size:1.05rem;
font-weight:600;cursor:pointer;border:2px solid #12355b;text-align:center;text-decoration:none}
.pay{background:#12355b;color:#fff}
.refuse{background:#fff;color:#8a1c1c;border-color:#8a1c1c}
.abandon{background:#fff;color:#12355b}
button:focus-visible,.button:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.error{border-left:6px solid #8a1c1c}
.small{font-size:.9rem;color:#454545}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;margin-bottom:.5rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ccd3de;white-space:nowrap}
"""


def euros(cents: int) -> str:
    """12345 -> '123,45 €' (French format, no-break spaces)."""
    whole, rest = divmod(cents, 100)
    return f"{whole:,}".replace(",", "\u202f") + f",{rest:02d}\u00a0€"


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – Banque simulée</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<p class="brand">Banque simulée · Paiement sécurisé</p>
<p class="notice">Environnement de test : aucun paiement réel n'est effectué.</p>
</header>
<main>
{body}
</main>
</body>
</html>
"""


def payment_page(transaction: Transaction) -> str:
    form = transaction.form
    f = form.fields
    details = [("Marchand", form.shop.name), ("Boutique", f["vads_site_id"])]
    if f.get("vads_order_id"):
        details.append(("Référence", f["vads_order_id"]))
    if f.get("vads_order_info"):
        details.append(("Objet", f["vads_order_info"]))
    details.append(("Carte de test", "4970 10•• •••• 0003"))
    rows = "\n".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in details)
    mode = " (mode TEST)" if form.ctx_mode == "TEST" else ""
    body = f"""<div class="card">
<h1>Paiement de votre commande{escape(mode)}</h1>
<p>Montant à payer</p>
<p class="amount">{escape(euros(form.amount_cents))}</p>
<dl>
{rows}
</dl>
<form method="post" action="/paiement/{escape(transaction.id)}" class="actions">
<button class="pay" type="submit" name="decision" value="payer">Payer {escape(euros(form.amount_cents))}</button>
<button class="refuse" type="submit" name="decision" value="refuser">Refuser (simuler un refus de la banque)</button>
<button class="abandon" type="submit" name="decision" value="abandonner">Abandonner et retourner au site</button>
</form>
</div>"""
    return _page("Paiement", body)


_DONE = {"AUTHORISED": "Paiement accepté.", "REFUSED": "Paiement refusé.",
         "ABANDONED": "Paiement abandonné.", "CANCELLED": "Paiement annulé."}


def result_page(transaction: Transaction, return_url: str) -> str:
    """For a transaction already decided (or when the merchant gave no return address)."""
    link = (f'<p><a class="button abandon" href="{escape(return_url)}">Retourner sur le site du marchand</a></p>'
            if return_url else '<p class="small">Vous pouvez fermer cette page.</p>')
    body = f"""<div class="card">
<h1>{escape(_DONE.get(transaction.status, "Paiement en cours."))}</h1>
<p>Montant : {escape(euros(transaction.form.amount_cents))}</p>
{link}
</div>"""
    return _page("Résultat du paiement", body)


def hand_back_page(url: str, fields: dict[str, str]) -> str:
    """vads_return_mode=POST: the signed result goes back to the merchant in a form."""
    inputs = "\n".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    body = f"""<div class="card">
<h1>Retour vers le site du marchand</h1>
<form id="back" method="post" action="{escape(url)}">
{inputs}
<button class="pay" type="submit">Retourner sur le site du marchand</button>
</form>
<script>document.getElementById("back").submit();</script>
</div>"""
    return _page("Retour", body)


def error_page(message: str) -> str:
    body = f"""<div class="card error" role="alert">
<h1>Paiement impossible</h1>
<p>{escape(message)}</p>
<p class="small">Retournez sur le site du marchand pour recommencer.</p>
</div>"""
    return _page("Erreur", body)


def home_page(transactions: list[Transaction]) -> str:
    rows = "\n".join(
        f"<tr><td>{escape(t.created_at.strftime('%d/%m/%Y %H:%M:%S'))}</td><td>{escape(t.form.shop.name)}</td>"
        f"<td>{escape(euros(t.form.amount_cents))}</td><td>{escape(t.status)}</td>"
        f"<td>{sum(d.delivered for d in t.deliveries)}/{len(t.deliveries)}</td></tr>"
        for t in transactions[:50])
    table = (f"""<div class="scroll"><table><caption>Dernières transactions</caption>
<thead><tr><th scope="col">Date (UTC)</th><th scope="col">Marchand</th><th scope="col">Montant</th>
<th scope="col">État</th><th scope="col">Notifications reçues</th></tr></thead>
<tbody>{rows}</tbody></table></div>""" if transactions else "<p>Aucune transaction pour l'instant.</p>")
    body = f"""<div class="card">
<h1>Banque simulée (Systempay)</h1>
<p>Les marchands envoient leur formulaire de paiement signé à <code>/vads-payment/</code>.</p>
{table}
</div>"""
    return _page("Accueil", body)

