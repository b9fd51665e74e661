"""The page's texts in Dutch and English, and the choice of language.

The language is, in order: ``?lang=`` (the switch, which the server then remembers in a
cookie), the cookie, the browser's ``Accept-Language``, else English::

    >>> choose_language(None, None, "nl-NL,nl;q=0.9,en;q=0.8")
    'nl'
"""

from __future__ import annotations

from lokaalmeten.server.catalogue import VALID_PERCENT

LANGUAGES = ("nl", "en")
FALLBACK = "en"
COOKIE = "lm_lang"

# One entry per text: (Dutch, English). Placeholders in braces are filled by the script.
_TEXTS: dict[str, tuple[str, str]] = {
    "site_name": ("lokaalmeten", "lokaalmeten"),
    "skip_to_content": ("Naar de inhoud", "Skip to content"),
    "nav_label": ("Hoofdmenu", "Main menu"),
    "nav_map": ("Kaart", "Map"),
    "nav_data": ("Open data", "Open data"),
    "switch_label": ("Taal", "Language"),
    "switch_to": ("English", "Nederlands"),
    "switch_code": ("en", "nl"),
    "footer": (
        "Metingen van burgers met zelfgebouwde meetkastjes. Open data: zie",
        "Readings by citizens with home-built sensor kits. Open data: see",
    ),
    "footer_link": ("de datapagina", "the data page"),
    "loading": ("Laden…", "Loading…"),
    "error_api": (
        "De gegevens konden niet worden geladen: {message}",
        "Could not load the data: {message}",
    ),
    "indicative": (
        "Indicatief: ruwe waarden van goedkope sensoren, niet gekalibreerd tegen een "
        "officieel meetstation.",
        "Indicative: raw values of low-cost sensors, not calibrated against an official "
        "monitoring station.",
    ),
    # map page
    "map_title": ("Kaart van de meetkastjes", "Map of the sensor kits"),
    "map_intro": (
        "Elk punt is een meetkastje, gekleurd naar zijn laatste meting. Locaties van woningen "
        "zijn afgerond op ongeveer 100 meter.",
        "Each point is a sensor kit, coloured by its latest reading. Home locations are rounded "
        "to about 100 metres.",
    ),
    "map_quantity": ("Kleur naar", "Colour by"),
    "map_label": ("Kaart met de meetkastjes", "Map of the sensor kits"),
    "map_no_tiles": (
        "Geen kaartachtergrond beschikbaar; de kastjes staan op hun plaats.",
        "No map background available; the kits are shown at their places.",
    ),
    "map_summary": (
        "{kits} kastjes, waarvan {located} op de kaart.",
        "{kits} kits, {located} of them on the map.",
    ),
    "map_as_of": (
        "{kits} kastjes, waarvan {located} op de kaart · stand van {time} · {how}",
        "{kits} kits, {located} of them on the map · as of {time} · {how}",
    ),
    "live_stream": ("live bijgewerkt", "updated live"),
    "live_poll": ("elke {seconds} s bijgewerkt", "updated every {seconds} s"),
    "live_connecting": ("verbinden…", "connecting…"),
    "live_reconnecting": ("verbinding kwijt, opnieuw verbinden…", "connection lost, reconnecting…"),
    "map_history_shown": (
        "Uurgemiddelden van {from} tot {to} · {kits} kastjes met een waarde",
        "Hourly means from {from} to {to} · {kits} kits with a value",
    ),
    "history_title": ("Terugkijken", "Look back"),
    "history_hour": ("{from} tot {to}", "{from} to {to}"),
    "history_label": ("Uur", "Hour"),
    "history_now": ("nu (laatste metingen)", "now (latest readings)"),
    "history_play": ("Afspelen", "Play"),
    "history_pause": ("Pauze", "Pause"),
    "history_live": ("Naar nu", "Back to now"),
    "history_hint": (
        "Schuif terug door de uurgemiddelden van de laatste {days} dagen; pijltjestoetsen "
        "gaan een uur verder of terug.",
        "Slide back through the hourly means of the last {days} days; the arrow keys move one "
        "hour.",
    ),
    "history_none": (
        "Er zijn nog geen uurgemiddelden om terug te kijken.",
        "There are no hourly means to look back at yet.",
    ),
    "history_error": (
        "De uurgemiddelden konden niet worden geladen: {message}",
        "The hourly means could not be loaded: {message}",
    ),
    "marker_label_hour": (
        "{name}: uurgemiddelde {value} ({band}) om {time}. Open de pagina van dit kastje.",
        "{name}: hourly mean {value} ({band}) at {time}. Open this kit's page.",
    ),
    "bands_says_title": ("Wat de klassen betekenen", "What the bands mean"),
    "legend_title": ("Legenda", "Legend"),
    "legend_no_value": ("geen waarde", "no value"),
    "legend_offline": ("gestippelde rand: offline", "dashed border: offline"),
    "list_title": ("Alle kastjes", "All kits"),
    "list_kit": ("Kastje", "Kit"),
    "list_value": ("Laatste waarde", "Latest value"),
    "list_band": ("Klasse", "Band"),
    "list_status": ("Status", "Status"),
    "list_last": ("Laatste meting", "Last reading"),
    "list_no_location": ("geen locatie", "no location"),
    "list_empty": ("Nog geen kastjes met metingen.", "No kits with readings yet."),
    "download_geojson_all": (
        "Alle kastjes met laatste waarden (GeoJSON)",
        "All kits with latest values (GeoJSON)",
    ),
    "marker_label": (
        "{name}: {value} ({band}). Open de pagina van dit kastje.",
        "{name}: {value} ({band}). Open this kit's page.",
    ),
    "marker_label_none": (
        "{name}: geen waarde. Open de pagina van dit kastje.",
        "{name}: no value. Open this kit's page.",
    ),
    "online": ("online", "online"),
    "offline": ("offline", "offline"),
    # quantities
    "q_pm1": ("Fijnstof PM1", "Particulate matter PM1"),
    "q_pm25": ("Fijnstof PM2,5", "Particulate matter PM2.5"),
    "q_pm4": ("Fijnstof PM4", "Particulate matter PM4"),
    "q_pm10": ("Fijnstof PM10", "Particulate matter PM10"),
    "q_temperature": ("Temperatuur", "Temperature"),
    "q_humidity": ("Relatieve luchtvochtigheid", "Relative humidity"),
    "q_pressure": ("Luchtdruk", "Air pressure"),
    "q_co2": ("CO₂", "CO₂"),
    "q_noise_laeq": ("Geluid LAeq", "Noise LAeq"),
    "q_noise_lamin": ("Geluid LAmin", "Noise LAmin"),
    "q_noise_lamax": ("Geluid LAmax", "Noise LAmax"),
    "q_noise_la10": ("Geluid LA10", "Noise LA10"),
    "q_noise_la90": ("Geluid LA90", "Noise LA90"),
    # bands and their sources
    "band_good": ("goed", "good"),
    "band_fair": ("redelijk", "fair"),
    "band_moderate": ("matig", "moderate"),
    "band_poor": ("slecht", "poor"),
    "band_very_poor": ("zeer slecht", "very poor"),
    "band_extremely_poor": ("extreem slecht", "extremely poor"),
    "band_noise_quiet": ("onder 55 dB(A)", "below 55 dB(A)"),
    "band_noise_55": ("55–60 dB(A)", "55–60 dB(A)"),
    "band_noise_60": ("60–65 dB(A)", "60–65 dB(A)"),
    "band_noise_65": ("65–70 dB(A)", "65–70 dB(A)"),
    "band_noise_70": ("70–75 dB(A)", "70–75 dB(A)"),
    "band_noise_75": ("75 dB(A) en meer", "75 dB(A) and above"),
    "source_eaqi": (
        "Klassen: Europese luchtkwaliteitsindex (EEA, herziening 2024), bedoeld voor "
        "uurgemiddelden; hier toegepast op de laatste meting.",
        "Bands: European Air Quality Index (EEA, 2024 revision), defined for hourly means; "
        "applied here to the latest reading.",
    ),
    "guideline_who_pm25": (
        "WHO-advieswaarde 2021 voor PM2,5: 15 µg/m³ daggemiddelde, 5 µg/m³ jaargemiddelde.",
        "WHO 2021 guideline for PM2.5: 15 µg/m³ 24-hour mean, 5 µg/m³ annual mean.",
    ),
    "guideline_who_pm10": (
        "WHO-advieswaarde 2021 voor PM10: 45 µg/m³ daggemiddelde, 15 µg/m³ jaargemiddelde.",
        "WHO 2021 guideline for PM10: 45 µg/m³ 24-hour mean, 15 µg/m³ annual mean.",
    ),
    "source_noise": (
        "Klassen: de klassen van de Europese geluidskaarten (Richtlijn 2002/49/EG, bijlage VI), "
        "daar voor Lden; hier toegepast op het LAeq van de laatste meetperiode.",
        "Bands: the bands of the EU noise maps (Directive 2002/49/EC, Annex VI), defined there "
        "for Lden; applied here to the LAeq of the latest interval.",
    ),
    "guideline_who_noise": (
        "WHO 2018 voor wegverkeer: 53 dB Lden, 45 dB Lnacht (jaargemiddelden); WHO 2009 voor "
        "de nacht: 40 dB Lnacht buiten bij de slaapkamer.",
        "WHO 2018 for road traffic: 53 dB Lden, 45 dB Lnight (annual averages); WHO 2009 for "
        "the night: 40 dB Lnight outside a bedroom.",
    ),
    # one plain sentence per band (bands.py), for a resident; {n}: see each
    "says_pm25_0": (
        "Onder de jaar-advieswaarde van de WHO (5 µg/m³): schone lucht (WHO 2021).",
        "Below the WHO's annual guideline (5 µg/m³): clean air (WHO 2021).",
    ),
    "says_pm25_1": (
        "Boven de jaar-advieswaarde van de WHO, maar onder die voor een dag (15 µg/m³); "
        "geen reden om iets anders te doen (WHO 2021).",
        "Above the WHO's annual guideline but below its 24-hour one (15 µg/m³); no reason to "
        "change what you do (WHO 2021).",
    ),
    "says_pm25_2": (
        "Boven de dag-advieswaarde van de WHO (15 µg/m³); wie gevoelig is en klachten krijgt, "
        "kan inspanning buiten beperken (EEA).",
        "Above the WHO's 24-hour guideline (15 µg/m³); sensitive people with symptoms may "
        "take it easier outdoors (EEA).",
    ),
    "says_pm25_3": (
        "Ruim boven de WHO-advieswaarden; iedereen met klachten als hoesten of branderige ogen "
        "kan zware inspanning buiten beperken (EEA).",
        "Well above the WHO guidelines; anyone with symptoms such as a cough or sore eyes may "
        "cut down on hard exercise outdoors (EEA).",
    ),
    "says_pm25_4": (
        "Zeer vervuilde lucht; beperk inspanning buiten, zeker wie gevoelig is (EEA).",
        "Very polluted air; cut down on exercise outdoors, above all if you are sensitive (EEA).",
    ),
    "says_pm25_5": (
        "Extreem vervuilde lucht; vermijd inspanning buiten (EEA).",
        "Extremely polluted air; avoid exercise outdoors (EEA).",
    ),
    "says_pm10_0": (
        "Onder de jaar-advieswaarde van de WHO (15 µg/m³): schone lucht (WHO 2021).",
        "Below the WHO's annual guideline (15 µg/m³): clean air (WHO 2021).",
    ),
    "says_pm10_1": (
        "Boven de jaar-advieswaarde van de WHO, maar onder die voor een dag (45 µg/m³); "
        "geen reden om iets anders te doen (WHO 2021).",
        "Above the WHO's annual guideline but below its 24-hour one (45 µg/m³); no reason to "
        "change what you do (WHO 2021).",
    ),
    "says_pm10_2": (
        "Boven de dag-advieswaarde van de WHO (45 µg/m³); wie gevoelig is en klachten krijgt, "
        "kan inspanning buiten beperken (EEA).",
        "Above the WHO's 24-hour guideline (45 µg/m³); sensitive people with symptoms may "
        "take it easier outdoors (EEA).",
    ),
    "says_pm10_3": (
        "Ruim boven de WHO-advieswaarden; iedereen met klachten als hoesten of branderige ogen "
        "kan zware inspanning buiten beperken (EEA).",
        "Well above the WHO guidelines; anyone with symptoms such as a cough or sore eyes may "
        "cut down on hard exercise outdoors (EEA).",
    ),
    "says_pm10_4": (
        "Zeer vervuilde lucht; beperk inspanning buiten, zeker wie gevoelig is (EEA).",
        "Very polluted air; cut down on exercise outdoors, above all if you are sensitive (EEA).",
    ),
    "says_pm10_5": (
        "Extreem vervuilde lucht; vermijd inspanning buiten (EEA).",
        "Extremely polluted air; avoid exercise outdoors (EEA).",
    ),
    "says_noise_0": (
        "Onder de laagste klasse van de Europese geluidskaarten, zoals een rustige woonstraat "
        "(Richtlijn 2002/49/EG).",
        "Below the lowest band of the EU noise maps, like a quiet residential street "
        "(Directive 2002/49/EC).",
    ),
    "says_noise_1": (
        "Als een drukke straat; de hele dag zo luid is boven de WHO-advieswaarde voor "
        "wegverkeer (53 dB Lden, WHO 2018).",
        "Like a busy street; all day at this level is above the WHO's road-traffic guideline "
        "(53 dB Lden, WHO 2018).",
    ),
    "says_noise_2": (
        "Druk verkeer; wie hier lang in woont, heeft vaker last van hinder en slecht slapen "
        "(WHO 2018).",
        "Heavy traffic; living with this for long brings more annoyance and poorer sleep "
        "(WHO 2018).",
    ),
    "says_noise_3": (
        "Luid, als langs een hoofdweg; de EU telt wie hieraan wonen op haar geluidskaarten "
        "(Richtlijn 2002/49/EG).",
        "Loud, as beside a main road; the EU counts those living with it on its noise maps "
        "(Directive 2002/49/EC).",
    ),
    "says_noise_4": (
        "Zeer luid: buiten praten gaat moeilijk; ver boven alle WHO-advieswaarden (WHO 2018).",
        "Very loud: hard to talk outdoors; far above every WHO guideline (WHO 2018).",
    ),
    "says_noise_5": (
        "Extreem luid, de hoogste klasse van de Europese geluidskaarten (Richtlijn 2002/49/EG).",
        "Extremely loud, the highest band of the EU noise maps (Directive 2002/49/EC).",
    ),
    # kit page
    "kit_title": ("Meetkastje", "Sensor kit"),
    "kit_not_found": (
        "Er is geen kastje {node} met metingen.",
        "There is no kit {node} with readings.",
    ),
    "kit_back": ("Terug naar de kaart", "Back to the map"),
    "kit_missing_title": ("Kastje niet gevonden", "Kit not found"),
    "kit_missing_text": (
        "Er zijn hier geen metingen van een kastje met de naam",
        "There are no readings here of a kit named",
    ),
    "kit_missing_help": (
        "Misschien is de link verkeerd overgenomen, of heeft het kastje nog niets gestuurd. "
        "De kaart toont alle kastjes met metingen.",
        "Perhaps the link was copied wrongly, or the kit has not sent anything yet. The map "
        "shows every kit with readings.",
    ),
    "error_chart": (
        "De grafiek kon niet worden getekend: de metingen konden niet worden geladen ({message}).",
        "The chart could not be drawn: the readings could not be loaded ({message}).",
    ),
    "embed_title": ("Deze grafiek op uw eigen site", "This chart on your own site"),
    "embed_text": (
        "Kopieer deze code in een webpagina om de metingen van dit kastje van de afgelopen "
        "dag te tonen (met quantity= een andere grootheid, met range=week een week):",
        "Copy this code into a web page to show this kit's readings of the past day (quantity= "
        "for another quantity, range=week for a week):",
    ),
    "embed_source": ("Metingen van lokaalmeten,", "Readings from lokaalmeten,"),
    "embed_open_data": ("open data", "open data"),
    "kit_status": ("Status", "Status"),
    "kit_last_reading": ("Laatste meting", "Last reading"),
    "kit_sensors": ("Sensoren", "Sensors"),
    "kit_location": ("Locatie", "Location"),
    "kit_location_rounded": (
        "afgerond op {decimals} decimalen (ca. {metres} m)",
        "rounded to {decimals} decimals (about {metres} m)",
    ),
    "kit_location_exact": (
        "exact (met toestemming van de eigenaar)",
        "exact (with the owner's consent)",
    ),
    "kit_location_none": ("niet gepubliceerd", "not published"),
    "kit_interval": ("Meetinterval", "Measurement interval"),
    "kit_interval_value": ("elke {seconds} s", "every {seconds} s"),
    "kit_readings": ("Aantal metingen", "Readings stored"),
    "kit_alerts": ("Meldingen over dit kastje", "Alerts about this kit"),
    "alert_offline": ("het kastje stuurt geen metingen", "the kit sends no readings"),
    "alert_dead_sensor": (
        "{quantity}: de sensor stuurt niets meer",
        "{quantity}: the sensor has gone silent",
    ),
    "alert_stuck": (
        "{quantity}: de sensor hangt, steeds dezelfde waarde",
        "{quantity}: the sensor is stuck, the same value over and over",
    ),
    "alert_persistent_flags": (
        "{quantity}: veel metingen zijn onwaarschijnlijk of pieken",
        "{quantity}: many readings are implausible or spikes",
    ),
    "alert_since": ("sinds {time}", "since {time}"),
    "latest_title": ("Laatste waarden", "Latest values"),
    "latest_quantity": ("Grootheid", "Quantity"),
    "latest_value": ("Waarde", "Value"),
    "latest_time": ("Tijd", "Time"),
    "latest_sensor": ("Sensor", "Sensor"),
    "latest_says": ("Wat het betekent", "What it means"),
    "kit_as_of": ("Stand van {time} · {how}", "As of {time} · {how}"),
    "kit_compare": ("Vergelijk dit kastje met andere", "Compare this kit with others"),
    "says_night_below": (
        "Onder de nachtnorm van de WHO: 40 dB buiten bij de slaapkamer (Lnacht, WHO 2009).",
        "Below the WHO's night guideline: 40 dB outside a bedroom (Lnight, WHO 2009).",
    ),
    "says_night_above": (
        "Boven de nachtnorm van de WHO, als het 's nachts zo is: 40 dB buiten bij de slaapkamer "
        "(Lnacht, WHO 2009).",
        "Above the WHO's night guideline, if it is like this at night: 40 dB outside a bedroom "
        "(Lnight, WHO 2009).",
    ),
    "charts_title": ("Verloop", "Over time"),
    "range_legend": ("Periode", "Period"),
    "range_hour": ("uur", "hour"),
    "range_day": ("dag", "day"),
    "range_week": ("week", "week"),
    "range_month": ("maand", "month"),
    "range_year": ("jaar", "year"),
    "mode_legend": ("Weergave", "Show"),
    "mode_auto": ("passend bij de periode", "to suit the period"),
    "mode_raw": ("ruwe metingen", "raw readings"),
    "mode_hourly": ("uurgemiddelden met dekking", "hourly means with coverage"),
    "mode_daily": ("daggemiddelden met dekking", "daily means with coverage"),
    "resolution_auto": (
        "Voor een {range}: {shown}. Kies hierboven een andere weergave.",
        "For a {range}: {shown}. Choose another view above.",
    ),
    "period_shown": ("Getoond: {from} tot {to}.", "Shown: {from} to {to}."),
    "chart_empty": ("Geen metingen in deze periode.", "No readings in this period."),
    "chart_raw_label": (
        "{quantity}: {count} metingen van {from} tot {to}; laagste {min}, hoogste {max} {unit}.",
        "{quantity}: {count} readings from {from} to {to}; lowest {min}, highest {max} {unit}.",
    ),
    "chart_hourly_label": (
        "{quantity}: {count} uurgemiddelden van {from} tot {to}, {invalid} met te weinig "
        "dekking; laagste {min}, hoogste {max} {unit}.",
        "{quantity}: {count} hourly means from {from} to {to}, {invalid} with too little "
        "coverage; lowest {min}, highest {max} {unit}.",
    ),
    "chart_daily_label": (
        "{quantity}: {count} daggemiddelden van {from} tot {to}, {invalid} met te weinig "
        "dekking; laagste {min}, hoogste {max} {unit}.",
        "{quantity}: {count} daily means from {from} to {to}, {invalid} with too little "
        "coverage; lowest {min}, highest {max} {unit}.",
    ),
    "chart_hourly_note": (
        f"Open punten: uren met minder dan {VALID_PERCENT} van de verwachte metingen, dagen "
        "met te weinig geldige uren (onvoldoende dekking).",
        f"Open points: hours with less than {VALID_PERCENT} of the expected readings, days "
        "with too few valid hours (too little coverage).",
    ),
    "point_hourly": (
        "{time}: gemiddeld {mean} (min {min}, max {max}), dekking {coverage} %",
        "{time}: mean {mean} (min {min}, max {max}), coverage {coverage} %",
    ),
    "downloads_title": ("Downloaden wat hier staat", "Download what is shown"),
    "download_csv": ("Metingen (CSV)", "Readings (CSV)"),
    "download_csv_semicolon": (
        "Metingen voor Excel NL (CSV met ;)",
        "Readings for Dutch Excel (CSV with ;)",
    ),
    "download_csv_hourly": (
        "De metingen achter deze uurgemiddelden (CSV)",
        "The readings behind these hourly means (CSV)",
    ),
    "download_json_raw": ("Metingen (JSON, in kolommen)", "Readings (JSON, as columns)"),
    "download_means_hourly_csv": ("Deze uurgemiddelden (CSV)", "These hourly means (CSV)"),
    "download_means_daily_csv": ("Deze daggemiddelden (CSV)", "These daily means (CSV)"),
    "download_json_daily": (
        "Daggemiddelden met dekking (JSON)",
        "Daily means with coverage (JSON)",
    ),
    "download_json_hourly": (
        "Uurgemiddelden met dekking (JSON)",
        "Hourly means with coverage (JSON)",
    ),
    "download_geojson": (
        "Kastje met laatste waarden (GeoJSON)",
        "Kit with latest values (GeoJSON)",
    ),
    # compare page (compare.html, compare.js): kits side by side, and a reference station
    "nav_compare": ("Vergelijken", "Compare"),
    "compare_title": ("Kastjes vergelijken", "Compare kits"),
    "compare_intro": (
        "Kies twee tot vijf kastjes, een grootheid en een periode: hun uur- of daggemiddelden "
        "staan samen in één grafiek, en zo ook in de download.",
        "Choose two to five kits, a quantity and a period: their hourly or daily means share "
        "one chart, and the download holds the same.",
    ),
    "compare_kits_legend": ("Kastjes (twee tot vijf)", "Kits (two to five)"),
    "compare_kits_hint": (
        "Met Tab naar de lijst, met de spatiebalk aan- of uitvinken.",
        "Tab to the list, Space ticks or unticks a kit.",
    ),
    "compare_limit": (
        "Hoogstens vijf kastjes tegelijk: vink er eerst een uit om {kit} te kiezen.",
        "At most five kits at once: untick one first to choose {kit}.",
    ),
    "compare_too_few": (
        "Kies minstens twee kastjes om te vergelijken.",
        "Choose at least two kits to compare.",
    ),
    "compare_no_kits": ("Nog geen kastjes met metingen.", "No kits with readings yet."),
    "compare_quantity": ("Grootheid", "Quantity"),
    "compare_from": ("Van", "From"),
    "compare_to": ("Tot en met", "To (inclusive)"),
    "compare_dates_note": (
        "Datums in UTC. Tot 31 dagen: uurgemiddelden; langer: daggemiddelden.",
        "Dates in UTC. Up to 31 days: hourly means; longer: daily means.",
    ),
    "compare_station": ("Referentiestation", "Reference station"),
    "compare_station_none": ("geen", "none"),
    "compare_station_label": ("Referentie {station}", "Reference {station}"),
    "compare_station_hourly": (
        "uurwaarden van het meetstation",
        "the station's hourly values",
    ),
    "compare_bad_range": (
        "De begindatum moet op of voor de einddatum liggen.",
        "The start date must be on or before the end date.",
    ),
    "compare_too_long": (
        "Hoogstens {days} dagen tegelijk: kies een kortere periode.",
        "At most {days} days at once: choose a shorter period.",
    ),
    "compare_chart_title": ("Grafiek", "Chart"),
    "compare_period_hourly": (
        "Uurgemiddelden van {from} tot {to}.",
        "Hourly means from {from} to {to}.",
    ),
    "compare_period_daily": (
        "Daggemiddelden van {from} tot {to}.",
        "Daily means from {from} to {to}.",
    ),
    "compare_empty": (
        "Geen metingen van {quantity} van deze kastjes in deze periode.",
        "No readings of {quantity} from these kits in this period.",
    ),
    "compare_series_empty": ("geen metingen in deze periode", "no readings in this period"),
    "compare_series_summary": (
        "{name}: {count} waarden, laagste {min}, hoogste {max}",
        "{name}: {count} values, lowest {min}, highest {max}",
    ),
    "compare_chart_label": (
        "{quantity} in {unit}, van {from} tot {to}. {series}.",
        "{quantity} in {unit}, from {from} to {to}. {series}.",
    ),
    "compare_point": (
        "{time}: {value}, dekking {coverage} %",
        "{time}: {value}, coverage {coverage} %",
    ),
    "compare_legend_label": ("Lijnen in de grafiek", "Lines in the chart"),
    "compare_stations_error": (
        "De referentiestations konden niet worden geladen: {message}",
        "The reference stations could not be loaded: {message}",
    ),
    "compare_error": (
        "De vergelijking kon niet worden geladen: {message}",
        "The comparison could not be loaded: {message}",
    ),
    "compare_download_csv": (
        "Deze gemiddelden van deze kastjes (CSV)",
        "These means of these kits (CSV)",
    ),
    "compare_download_csv_semicolon": (
        "Hetzelfde voor Excel NL (CSV met ;)",
        "The same for Dutch Excel (CSV with ;)",
    ),
    "compare_download_json": ("Dezelfde gemiddelden (JSON)", "The same means (JSON)"),
    "compare_download_reference": (
        "Uurwaarden van het referentiestation (CSV)",
        "The reference station's hourly values (CSV)",
    ),
    # end of the compare page's texts
    # data page
    "data_title": ("Open data", "Open data"),
    "data_intro": (
        "Alle metingen zijn open data. Deze pagina's gebruiken zelf alleen de openbare API "
        "hieronder: wat u ziet, kan iedereen downloaden.",
        "Every reading is open data. These pages themselves use only the public API below: "
        "what you see, anyone can download.",
    ),
    "licence_title": ("Licentie", "Licence"),
    "licence_text": (
        "De gegevens worden gepubliceerd onder {licence}.",
        "The data are published under {licence}.",
    ),
    "metadata_title": ("Metadata", "Metadata"),
    "metadata_text": (
        "Beschrijving van de dataset volgens DCAT-AP-NL (JSON-LD):",
        "Description of the dataset following DCAT-AP-NL (JSON-LD):",
    ),
    "metadata_publisher": ("Uitgever", "Publisher"),
    "metadata_contact": ("Contact", "Contact"),
    "metadata_distributions": ("Distributies", "Distributions"),
    "privacy_title": ("Privacy", "Privacy"),
    "privacy_text": (
        "Kastjes hangen vaak bij mensen thuis. Hun locatie wordt daarom overal afgerond "
        "gepubliceerd (standaard 3 decimalen, ongeveer 100 m), tenzij de eigenaar voor de "
        "exacte locatie koos.",
        "Kits often hang at people's homes, so their location is published rounded everywhere "
        "(3 decimals by default, about 100 m), unless the owner chose the exact location.",
    ),
    "api_title": ("Toegang tot de gegevens", "Access to the data"),
    "api_rest": ("REST-API (JSON)", "REST API (JSON)"),
    "api_rest_text": (
        "Kastjes, metingen, uur- en daggemiddelden met dekking, laatste waarden.",
        "Kits, readings, hourly and daily means with coverage, latest values.",
    ),
    "api_sta": ("OGC SensorThings API v1.1", "OGC SensorThings API v1.1"),
    "api_sta_text": (
        "De standaard die ook RIVM Samen Meten gebruikt.",
        "The standard RIVM Samen Meten uses too.",
    ),
    "api_docs": ("OpenAPI-documentatie", "OpenAPI documentation"),
    "api_docs_text": (
        "Elke parameter, om direct uit te proberen; het OpenAPI-document:",
        "Every parameter, to try out directly; the OpenAPI document:",
    ),
    "api_csv": ("CSV-export", "CSV export"),
    "api_csv_text": (
        "de metingen van de laatste 24 uur; andere dagen met from= en to=, hoogstens "
        "max_range_days:",
        "the readings of the last 24 hours; other days with from= and to=, at most max_range_days:",
    ),
    "api_geojson": ("GeoJSON", "GeoJSON"),
    "examples_title": ("Voorbeelden om te kopiëren", "Examples to copy"),
    "example_nodes": ("Alle kastjes", "All kits"),
    "example_readings": ("PM2,5 van één kastje sinds gisteren", "PM2.5 of one kit since yesterday"),
    "example_aggregates": ("Uurgemiddelden met dekking", "Hourly means with coverage"),
    "example_csv": ("Een dag aan metingen als CSV", "A day of readings as CSV"),
    "example_sta": (
        "De laatste tien waarnemingen (SensorThings)",
        "The last ten observations (SensorThings)",
    ),
    "example_pandas": ("In Python met pandas", "In Python with pandas"),
    "copy": ("Kopiëren", "Copy"),
    "copy_label": ("Kopiëren: {what}", "Copy: {what}"),
    "copied": ("Gekopieerd.", "Copied."),
    "copy_failed": ("Kopiëren lukte niet; selecteer de tekst.", "Copying failed; select the text."),
}

TEXTS: dict[str, dict[str, str]] = {
    lang: {key: pair[i] for key, pair in _TEXTS.items()} for i, lang in enumerate(LANGUAGES)
}


def _accepted(header: str) -> list[str]:
    """Languages of an Accept-Language header, most wanted first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def choose_language(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the switch, then the remembered choice, then the browser's."""
    for choice in (asked, cookie):
        if choice in LANGUAGES:
            return choice
    for tag in _accepted(accept_language or ""):
        if tag in LANGUAGES:
            return tag
    return FALLBACK
