"""De woorden van de instelpagina in het Nederlands: één tuple, alleen geladen voor een
Nederlandse pagina.

``TEXT[i]`` is vertrouwde HTML, in dezelfde volgorde als ``kit/portal_en.py``.
"""

TEXT = (
    # labels van de velden, in de volgorde van portal_form.KEYS
    "Wifi-netwerk",
    "Wifi-wachtwoord",
    "Naam van het kastje (node-id; leeg: esp32-&lt;MAC&gt;)",
    "Adres van de gateway (MQTT-broker)",
    "Poort van de gateway",
    "MQTT-gebruiker (leeg: de node-id)",
    "MQTT-wachtwoord (het token van het kastje)",
    "Breedtegraad",
    "Lengtegraad",
    "Meetinterval (s)",
    "Sensoren",
    "Kalibratiecorrecties",
    "De precieze plek publiceren (anders afgerond op ongeveer 100 m)",
    # fouten
    "vul dit in",
    "moet een getal zijn",
    "moet een geheel getal zijn",
    "moet van %s tot en met %s zijn",
    "hoogstens %d tekens",
    "minstens 8 tekens",
    "vul breedte- en lengtegraad allebei in, of geen van beide",
    "2 tot 32 tekens uit a-z, 0-9, - en _, beginnend met een letter of cijfer",
    "regel %d: %s",
    "regel %d: %s moet sleutel=getal zijn",
    "%s moet grootheid=correctie zijn, bijvoorbeeld temperature=-1.5",
    "onbekende grootheid %s",
    "%s",
    # de pagina
    "lokaalmeten-kastje %s",
    "Vul je wifi-netwerk en het wachtwoord in en sla op.",
    "Geavanceerd",
    "deploy heeft dit ingevuld: verander het alleen als de beheerder van je gateway daarom vraagt.",
    "Opslaan en herstarten",
    "Opgeslagen. Het kastje herstart met de nieuwe instellingen.",
    "Niet opgeslagen. Verbeter het volgende; de oude instellingen blijven gelden.",
    "Kon de instellingen niet opslaan: %s",
    "opgeslagen; laat leeg om het te houden",
    "wachtwoord tonen",
    "Toestand",
    "Wifi: %s, gateway: %s, laatst verstuurd: %s",
    "verbonden",
    "niet verbonden",
    "nooit",
    "wacht op verzenden: %d, verzonden: %d, weggegooid (wachtrij vol): %d",
    "Laatste metingen",
    "één per regel, soort en pinnen, bijvoorbeeld <code>sds011 uart=2 rx=16 tx=17</code>; "
    "soorten: %s",
    "bijvoorbeeld <code>temperature=-1.5</code>",
)
