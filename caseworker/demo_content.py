"""The words of the demo city, Riverton: names, streets, categories and what people write.

Pure data, written for this project. Placeholders in braces are filled by `caseworker.demo`:
category texts take {street} {number} {date} {name} {district}; replies {name} {reference} {agent};
follow-ups {name} {reference}; call notes {street}; chat lines {reference} {agent}.
"""

FIRST_NAMES = {
    "en": ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
           "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Karen", "Charles", "Sarah",
           "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Ashley",
           "Donald", "Kimberly", "Steven", "Emily", "Andrew", "Donna", "Kenneth", "Michelle", "Joshua", "Carol",
           "Aisha", "Kwame", "Mei", "Priya", "Tyrone", "Hannah"],
    "es": ["José", "María", "Juan", "Guadalupe", "Luis", "Carmen", "Carlos", "Rosa", "Jorge", "Ana", "Miguel",
           "Lucía", "Jesús", "Verónica", "Antonio", "Elena", "Francisco", "Isabel", "Pedro", "Sofía", "Manuel",
           "Patricia", "Ricardo", "Adriana", "Fernando", "Gabriela", "Javier", "Leticia", "Alejandro", "Marisol",
           "Raúl", "Yolanda", "Sergio", "Daniela", "Héctor", "Paola", "Andrés", "Camila", "Óscar", "Valeria"],
    "it": ["Giuseppe", "Maria", "Giovanni", "Anna", "Antonio", "Giuseppina", "Mario", "Rosa", "Luigi", "Angela",
           "Francesco", "Giovanna", "Angelo", "Teresa", "Vincenzo", "Lucia", "Pietro", "Carmela", "Salvatore",
           "Caterina", "Carlo", "Francesca", "Franco", "Antonietta", "Domenico", "Carla", "Bruno", "Elena",
           "Paolo", "Concetta", "Michele", "Rita", "Giorgio", "Margherita", "Aldo", "Franca", "Sergio", "Paola",
           "Luca", "Chiara"],
}

LAST_NAMES = {
    "en": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
           "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
           "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams",
           "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Okafor",
           "Nguyen", "Patel", "Kowalski", "O'Brien"],
    "es": ["García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez",
           "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Reyes", "Morales", "Cruz", "Ortiz", "Gutiérrez",
           "Chávez", "Ramos", "Ruiz", "Álvarez", "Mendoza", "Castillo", "Jiménez", "Moreno", "Romero", "Herrera",
           "Medina", "Aguilar", "Vargas", "Castro", "Guzmán", "Fernández", "Delgado", "Soto", "Vega", "Rojas",
           "Navarro"],
    "it": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
           "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
           "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini",
           "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis",
           "D'Angelo", "Marchetti"],
}

BUSINESS_NAMES = [
    "Riverside Diner LLC", "Harbor Street Bakery", "Tres Hermanos Taquería", "Bella Napoli Pizzeria",
    "Northgate Hardware", "Sunrise Laundromat", "Old Mill Coffee Roasters", "Main Street Florist",
    "Quick Fix Auto Repair", "Green Valley Grocery", "La Esquina Market", "Trattoria Da Enzo",
    "Blue Heron Books", "Elm Park Dental Group", "Riverton Cab Co.", "Summit Event Rentals",
    "Golden Wok Kitchen", "Canal Street Barbers", "Westbrook Pharmacy", "Panadería San Miguel",
]

STREETS = [
    "Main Street", "Elm Street", "Oak Avenue", "Maple Avenue", "Cedar Lane", "Pine Street", "Washington Avenue",
    "Lincoln Boulevard", "River Road", "Harbor Street", "Canal Street", "Mill Street", "Bridge Street",
    "Church Street", "School Street", "Park Avenue", "Highland Avenue", "Chestnut Street", "Walnut Street",
    "Spruce Street", "Franklin Street", "Jefferson Avenue", "Madison Avenue", "Monroe Street", "Union Street",
    "Liberty Street", "Market Street", "Water Street", "Front Street", "Grove Street", "Summit Avenue",
    "Prospect Street", "Orchard Road", "Meadow Lane", "Lakeview Drive", "Hillside Avenue", "Sunset Drive",
    "Willow Street", "Birch Road", "Ash Street", "Poplar Avenue", "Railroad Avenue", "Depot Street",
    "Academy Street", "College Avenue", "Fairview Avenue", "Garden Street", "Cherry Lane", "Spring Street",
    "Vine Street", "Lafayette Street", "Columbus Avenue", "Garibaldi Street", "Hidalgo Avenue",
    "Northgate Road", "Southside Avenue", "Eastern Parkway", "Westbrook Drive", "Old Mill Road", "Ferry Street",
]

DISTRICTS = [
    ("Downtown", "14601"), ("Riverside", "14602"), ("Northgate", "14603"), ("Old Mill", "14604"),
    ("Harbor", "14605"), ("Elm Park", "14606"), ("Westbrook", "14607"), ("Southside", "14608"),
    ("Highland", "14609"), ("Little Italy", "14610"), ("La Villita", "14611"), ("University Heights", "14612"),
]


def _category(code, queue, en, es, it, description, priority, retention_days):
    return {"code": code, "queue": queue, "names": {"en": en, "es": es, "it": it},
            "description": description, "priority": priority, "retention_days": retention_days}


CATEGORIES = [
    _category("pothole", "streets", "Pothole", "Bache", "Buca stradale",
              "A hole or sinking in a road, bike lane or crosswalk.", "normal", 1095),
    _category("streetlight_out", "streets", "Streetlight out", "Farola apagada", "Lampione spento",
              "A streetlight that is out, flickering or on during the day.", "normal", 1095),
    _category("missed_collection", "streets", "Missed collection", "Recolección no realizada", "Raccolta non effettuata",
              "Trash, recycling or yard waste that was not picked up on the scheduled day.", "normal", 730),
    _category("bulk_pickup", "streets", "Bulk item pickup", "Recogida de objetos grandes", "Ritiro ingombranti",
              "A request to collect furniture, appliances or other large items.", "low", 730),
    _category("graffiti", "streets", "Graffiti", "Grafiti", "Graffiti",
              "Graffiti on public property, or on private property visible from the street.", "low", 730),
    _category("abandoned_vehicle", "streets", "Abandoned vehicle", "Vehículo abandonado", "Veicolo abbandonato",
              "A vehicle left on a public street for more than 72 hours.", "normal", 1095),
    _category("fallen_tree", "streets", "Fallen tree or limb", "Árbol o rama caída", "Albero o ramo caduto",
              "A tree or large limb down on a street, sidewalk or power line.", "urgent", 1825),
    _category("housing_assistance", "benefits", "Housing assistance", "Ayuda para la vivienda", "Sostegno abitativo",
              "Rent relief, emergency housing and eviction prevention.", "high", 2555),
    _category("property_tax_relief", "benefits", "Property tax relief", "Alivio del impuesto predial",
              "Agevolazioni sulla tassa di proprietà",
              "Exemptions and deferrals for seniors, veterans and low-income homeowners.", "normal", 2555),
    _category("food_assistance", "benefits", "Food assistance", "Asistencia alimentaria", "Assistenza alimentare",
              "Help applying for food benefits, and questions about an existing claim.", "high", 2555),
    _category("business_license", "licensing", "Business license", "Licencia comercial", "Licenza commerciale",
              "New business licenses, renewals and changes of address or ownership.", "normal", 3650),
    _category("food_vendor_permit", "licensing", "Food vendor permit", "Permiso de venta de alimentos",
              "Permesso per venditori di cibo",
              "Permits for food trucks, carts and market stalls.", "normal", 3650),
    _category("taxi_license", "licensing", "Taxi and rideshare license", "Licencia de taxi", "Licenza taxi",
              "Driver and vehicle licenses for taxis and for-hire vehicles.", "normal", 3650),
    _category("event_permit", "licensing", "Special event permit", "Permiso para eventos", "Permesso per eventi",
              "Block parties, street fairs, parades and events in parks.", "normal", 1095),
    _category("noise_complaint", "general", "Noise complaint", "Queja por ruido", "Segnalazione di rumore",
              "Ongoing noise from construction, venues, vehicles or neighbours.", "low", 365),
    _category("general_enquiry", "general", "General enquiry", "Consulta general", "Richiesta generale",
              "Anything else: questions about city services, hours and where to go.", "low", 365),
]

CATEGORY_TEXTS = {
    "pothole": {
        "en": [("Pothole on {street}", "There is a deep pothole in front of {number} {street}. Two cars have "
                "already blown a tyre there this week. Could someone fill it before somebody gets hurt?"),
               ("Road damage near {number} {street}", "Hello, since the storm on {date} the road surface outside "
                "{number} {street} has broken up and there is now a hole about a foot across in the right lane.")],
        "es": [("Bache en {street}", "Hay un bache muy profundo frente al {number} de {street}. Esta semana ya se "
                "han ponchado dos llantas. ¿Pueden repararlo antes de que alguien se lastime?"),
               ("Calle dañada en {street}", "Buenas tardes, desde la tormenta del {date} el pavimento frente al "
                "{number} de {street} está roto y hay un hoyo grande en el carril derecho.")],
        "it": [("Buca in {street}", "C'è una buca profonda davanti al numero {number} di {street}. Questa "
                "settimana due auto hanno forato. Potete chiuderla prima che qualcuno si faccia male?"),
               ("Asfalto rovinato in {street}", "Buongiorno, dal temporale del {date} l'asfalto davanti al "
                "{number} di {street} si è rotto e c'è una buca larga circa trenta centimetri.")],
    },
    "streetlight_out": {
        "en": [("Streetlight out on {street}", "The streetlight outside {number} {street} has been out since "
                "{date}. The block is completely dark at night and people walk home from the bus stop here."),
               ("Flickering light, {district}", "The light on the pole at the corner of {street} keeps flickering "
                "on and off all night. It has been like this for about a week.")],
        "es": [("Farola apagada en {street}", "La farola frente al {number} de {street} está apagada desde el "
                "{date}. La cuadra queda totalmente oscura y mucha gente camina por aquí desde la parada.")],
        "it": [("Lampione spento in {street}", "Il lampione davanti al {number} di {street} è spento dal {date}. "
                "Di sera la strada è completamente al buio e molte persone tornano a piedi dalla fermata.")],
    },
    "missed_collection": {
        "en": [("Trash not picked up", "Our trash was not collected on {date}. We are at {number} {street} and "
                "the bins were out by 6am as usual. The rest of the street was picked up."),
               ("Recycling missed again", "This is the third time this month the recycling at {number} {street} "
                "has been skipped. Please can someone look into the route in {district}?")],
        "es": [("No recogieron la basura", "No recogieron nuestra basura el {date}. Vivimos en el {number} de "
                "{street} y sacamos los botes a las 6 de la mañana como siempre.")],
        "it": [("Rifiuti non ritirati", "I nostri rifiuti non sono stati ritirati il {date}. Abitiamo al "
                "{number} di {street} e i bidoni erano fuori dalle 6 come sempre.")],
    },
    "bulk_pickup": {
        "en": [("Bulk pickup request", "I would like to book a pickup for an old sofa and a mattress from "
                "{number} {street}. What day can you come and where should I leave them?")],
        "es": [("Recogida de muebles", "Quisiera programar la recogida de un sofá viejo y un colchón en el "
                "{number} de {street}. ¿Qué día pueden venir y dónde los dejo?")],
        "it": [("Ritiro ingombranti", "Vorrei prenotare il ritiro di un vecchio divano e di un materasso al "
                "{number} di {street}. Quando potete passare e dove devo lasciarli?")],
    },
    "graffiti": {
        "en": [("Graffiti on {street}", "Someone has sprayed graffiti across the underpass wall on {street} near "
                "number {number}. Some of it is offensive and children walk past it to school.")],
        "es": [("Grafiti en {street}", "Alguien pintó grafitis en la pared del paso inferior de {street}, cerca "
                "del número {number}. Algunos son ofensivos y los niños pasan por ahí.")],
        "it": [("Graffiti in {street}", "Qualcuno ha imbrattato il muro del sottopasso in {street} vicino al "
                "numero {number}. Alcune scritte sono offensive e ci passano i bambini.")],
    },
    "abandoned_vehicle": {
        "en": [("Abandoned car on {street}", "A grey sedan with a flat tyre has been parked outside {number} "
                "{street} since {date}. It has not moved and the windows are starting to get broken.")],
        "es": [("Auto abandonado en {street}", "Un sedán gris con una llanta ponchada está estacionado frente al "
                "{number} de {street} desde el {date} y no se ha movido.")],
        "it": [("Auto abbandonata in {street}", "Una berlina grigia con una gomma a terra è parcheggiata davanti "
                "al {number} di {street} dal {date} e non è mai stata spostata.")],
    },
    "fallen_tree": {
        "en": [("Tree down on {street}", "A large branch came down in the wind and is blocking half of {street} "
                "at number {number}. It is resting on a wire. Please send someone urgently."),
               ("Fallen limb on sidewalk", "A big limb from the city tree outside {number} {street} fell onto "
                "the sidewalk overnight. People are having to walk in the road.")],
        "es": [("Árbol caído en {street}", "Una rama grande cayó con el viento y bloquea media calle en el "
                "{number} de {street}. Está apoyada sobre un cable. Por favor, envíen a alguien pronto.")],
        "it": [("Albero caduto in {street}", "Un grosso ramo è caduto con il vento e blocca metà di {street} al "
                "numero {number}. È appoggiato a un cavo. Mandate qualcuno subito, per favore.")],
    },
    "housing_assistance": {
        "en": [("Help with rent", "My name is {name}. I lost hours at work and I am two months behind on rent. "
                "My landlord has given me a notice. Is there any emergency rent help I can apply for?"),
               ("Eviction notice", "I received an eviction notice on {date} for my apartment on {street}. I have "
                "two children. Who can I talk to about housing assistance before the court date?")],
        "es": [("Ayuda con la renta", "Me llamo {name}. Me redujeron las horas en el trabajo y debo dos meses de "
                "renta. El dueño me dio un aviso. ¿Hay ayuda de emergencia para la renta?")],
        "it": [("Aiuto per l'affitto", "Mi chiamo {name}. Mi hanno ridotto le ore al lavoro e sono indietro di "
                "due mesi con l'affitto. Il proprietario mi ha mandato un avviso. Esiste un aiuto d'emergenza?")],
    },
    "property_tax_relief": {
        "en": [("Senior exemption", "I turned 65 this year and own my home at {number} {street}. How do I apply "
                "for the senior property tax exemption, and is it too late for this year's bill?")],
        "es": [("Exención para mayores", "Cumplí 65 años este año y soy dueña de mi casa en {street}. ¿Cómo "
                "solicito la exención de impuestos para personas mayores?")],
        "it": [("Esenzione per anziani", "Quest'anno ho compiuto 65 anni e sono proprietario della casa in "
                "{street}. Come posso chiedere l'esenzione sulla tassa di proprietà?")],
    },
    "food_assistance": {
        "en": [("Food benefits application", "I applied for food assistance on {date} and have not heard back. "
                "My case number was on a letter I lost. Can you tell me where my application is?")],
        "es": [("Solicitud de asistencia alimentaria", "Solicité la asistencia alimentaria el {date} y no he "
                "recibido respuesta. ¿Me pueden decir en qué estado está mi solicitud?")],
        "it": [("Domanda di assistenza alimentare", "Ho fatto domanda di assistenza alimentare il {date} e non "
                "ho ancora ricevuto risposta. Potete dirmi a che punto è la mia pratica?")],
    },
    "business_license": {
        "en": [("Business license renewal", "Our business license for the shop at {number} {street} expires at "
                "the end of the month. Can we renew online, and which documents do you need?"),
               ("New business license", "I am opening a small hair salon in {district}. What licenses do I need "
                "before I can open, and how long does it usually take?")],
        "es": [("Renovación de licencia comercial", "La licencia de nuestra tienda en el {number} de {street} "
                "vence a fin de mes. ¿Podemos renovarla en línea? ¿Qué documentos necesitan?")],
        "it": [("Rinnovo licenza commerciale", "La licenza del nostro negozio al {number} di {street} scade a "
                "fine mese. Possiamo rinnovarla online? Quali documenti servono?")],
    },
    "food_vendor_permit": {
        "en": [("Food truck permit", "We want to run a taco truck at the {district} farmers market on weekends. "
                "What permit do we need and does the truck need a separate health inspection?")],
        "es": [("Permiso para camión de comida", "Queremos vender tacos desde un camión en el mercado de "
                "{district} los fines de semana. ¿Qué permiso necesitamos?")],
        "it": [("Permesso per furgone alimentare", "Vorremmo vendere panini da un furgone al mercato di "
                "{district} nel fine settimana. Quale permesso ci serve?")],
    },
    "taxi_license": {
        "en": [("Taxi license renewal", "My taxi driver license expires on {date}. I booked the medical check "
                "but I cannot find where to upload the certificate. Can you help?")],
        "es": [("Renovación de licencia de taxi", "Mi licencia de taxista vence el {date}. Ya hice el examen "
                "médico pero no encuentro dónde subir el certificado.")],
        "it": [("Rinnovo licenza taxi", "La mia licenza di tassista scade il {date}. Ho fatto la visita medica "
                "ma non trovo dove caricare il certificato.")],
    },
    "event_permit": {
        "en": [("Block party permit", "We would like to close {street} between numbers {number} and the corner "
                "for a block party next month. How far ahead do we need to apply?")],
        "es": [("Permiso para fiesta vecinal", "Queremos cerrar {street} para una fiesta de vecinos el próximo "
                "mes. ¿Con cuánta anticipación hay que solicitar el permiso?")],
        "it": [("Permesso per festa di quartiere", "Vorremmo chiudere {street} per una festa di quartiere il "
                "mese prossimo. Con quanto anticipo bisogna chiedere il permesso?")],
    },
    "noise_complaint": {
        "en": [("Construction noise at night", "The building site at {number} {street} has been working past "
                "11pm every night since {date}. Are they allowed to do that?")],
        "es": [("Ruido de obra por la noche", "La obra en el {number} de {street} trabaja hasta después de las "
                "11 de la noche desde el {date}. ¿Está permitido?")],
        "it": [("Rumore del cantiere di notte", "Il cantiere al {number} di {street} lavora fino a dopo le 23 "
                "tutte le sere dal {date}. È consentito?")],
    },
    "general_enquiry": {
        "en": [("Opening hours", "Hello, what are the opening hours of the service centre on {street} over the "
                "holidays? I need to bring some documents in person. Thanks, {name}"),
               ("Which department?", "I am not sure who to ask: the sidewalk in front of my house in {district} "
                "is lifting because of tree roots. Is that the city or me?")],
        "es": [("Horario de atención", "Hola, ¿cuál es el horario del centro de atención en {street} durante "
                "las fiestas? Necesito llevar unos documentos. Gracias, {name}")],
        "it": [("Orari di apertura", "Buongiorno, quali sono gli orari dello sportello in {street} durante le "
                "feste? Devo portare dei documenti di persona. Grazie, {name}")],
    },
}

REPLY_TEXTS = {
    "en": [
        "Dear {name},\n\nThank you for contacting Riverton City Services. Your case {reference} has been passed to "
        "the crew for your area and we will update you when the work is scheduled.\n\nKind regards,\n{agent}",
        "Hello {name},\n\nThanks for letting us know. I have logged this under case {reference}. Could you confirm "
        "the nearest cross street so the team can find the exact spot?\n\n{agent}, Riverton City Services",
        "Dear {name},\n\nWe have received your request ({reference}). To continue we need a copy of a photo ID and "
        "proof of address; you can reply to this email with them attached.\n\nBest wishes,\n{agent}",
        "Hi {name},\n\nI have checked your file and everything is in order. You will receive a letter within ten "
        "working days. Please quote {reference} if you need to contact us again.\n\n{agent}",
        "Dear {name},\n\nAn inspector will visit this week. There is nothing more you need to do for now. Your "
        "reference is {reference}.\n\nRegards,\n{agent}",
        "Hello {name},\n\nThe work has been completed. If the problem comes back, reply to this message and we "
        "will reopen case {reference}.\n\nThank you,\n{agent}",
    ],
    "es": [
        "Estimado/a {name}:\n\nGracias por comunicarse con los Servicios de la Ciudad de Riverton. Su caso "
        "{reference} fue enviado al equipo de su zona. Le avisaremos cuando esté programado.\n\nAtentamente,\n{agent}",
        "Hola {name}:\n\nGracias por avisarnos. Registré su solicitud con el número {reference}. ¿Nos puede "
        "indicar la calle transversal más cercana?\n\n{agent}, Servicios de la Ciudad de Riverton",
        "Estimado/a {name}:\n\nRecibimos su solicitud ({reference}). Para continuar necesitamos una copia de una "
        "identificación con foto y un comprobante de domicilio.\n\nSaludos,\n{agent}",
        "Hola {name}:\n\nRevisé su expediente y todo está en orden. Recibirá una carta en un plazo de diez días "
        "hábiles. Mencione {reference} si vuelve a escribirnos.\n\n{agent}",
        "Estimado/a {name}:\n\nUn inspector pasará esta semana. Por ahora no necesita hacer nada más. Su "
        "referencia es {reference}.\n\nAtentamente,\n{agent}",
        "Hola {name}:\n\nEl trabajo ya se realizó. Si el problema vuelve, responda a este mensaje y reabriremos "
        "el caso {reference}.\n\nGracias,\n{agent}",
    ],
    "it": [
        "Gentile {name},\n\ngrazie per aver contattato i Servizi Comunali di Riverton. La sua pratica {reference} "
        "è stata affidata alla squadra della sua zona. La avviseremo quando l'intervento sarà programmato.\n\n"
        "Cordiali saluti,\n{agent}",
        "Buongiorno {name},\n\ngrazie della segnalazione. L'ho registrata con il numero {reference}. Può indicarci "
        "l'incrocio più vicino?\n\n{agent}, Servizi Comunali di Riverton",
        "Gentile {name},\n\nabbiamo ricevuto la sua richiesta ({reference}). Per procedere ci servono una copia di "
        "un documento d'identità e un certificato di residenza.\n\nCordiali saluti,\n{agent}",
        "Buongiorno {name},\n\nho controllato la sua pratica ed è tutto in ordine. Riceverà una lettera entro dieci "
        "giorni lavorativi. Indichi {reference} se ci scrive di nuovo.\n\n{agent}",
        "Gentile {name},\n\nun ispettore passerà questa settimana. Per ora non deve fare altro. Il suo riferimento "
        "è {reference}.\n\nCordiali saluti,\n{agent}",
        "Buongiorno {name},\n\nl'intervento è stato completato. Se il problema si ripresenta risponda a questo "
        "messaggio e riapriremo la pratica {reference}.\n\nGrazie,\n{agent}",
    ],
}

FOLLOWUP_TEXTS = {
    "en": [
        "Thank you. The nearest cross street is the one by the school. {name}",
        "Hi, any news on {reference}? Nothing has happened yet.",
        "I have attached the documents you asked for. Regards, {name}",
        "Thanks, that is great. Much appreciated.",
        "Sorry, I made a mistake in my first message: the house number is different. Case {reference}.",
        "It is still not fixed. Please can you reopen {reference}? {name}",
    ],
    "es": [
        "Gracias. La calle más cercana es la de la escuela. {name}",
        "Hola, ¿hay novedades sobre {reference}? Todavía no han venido.",
        "Adjunto los documentos que me pidieron. Saludos, {name}",
        "Muchas gracias por la ayuda.",
        "Perdón, me equivoqué en el primer mensaje: el número de la casa es otro. Caso {reference}.",
        "Sigue sin arreglarse. ¿Pueden reabrir {reference}? {name}",
    ],
    "it": [
        "Grazie. L'incrocio più vicino è quello della scuola. {name}",
        "Buongiorno, ci sono novità sulla pratica {reference}? Non è ancora passato nessuno.",
        "Allego i documenti richiesti. Saluti, {name}",
        "Grazie mille, gentilissimi.",
        "Scusate, nel primo messaggio ho sbagliato il numero civico. Pratica {reference}.",
        "Il problema non è stato risolto. Potete riaprire {reference}? {name}",
    ],
}

NOTE_TEXTS = [
    "Checked with the crew supervisor: scheduled for Thursday's route.",
    "Duplicate of an earlier report at the same address; linked.",
    "Called the constituent, no answer. Left a voicemail.",
    "Documents received and verified against the application.",
    "Inspector confirmed on site. Work order raised.",
    "Constituent prefers contact by phone after 5pm.",
    "Waiting on the landlord's ledger before we can assess arrears.",
    "Passed to the utility company: the wire is theirs, not ours.",
    "Fee waiver approved by the supervisor.",
    "Vehicle tagged by parking enforcement; tow in 72 hours if not moved.",
    "Application incomplete: missing proof of income. Asked for it in the reply.",
    "Site visit done. Hazard coned off until the crew arrives.",
    "Spoke to the venue manager, who agreed to stop work at 10pm.",
    "Eligibility confirmed; referral sent to the partner agency.",
    "Not city property: advised the constituent whom to contact.",
]

CALL_NOTES = [
    "Caller reported a problem on {street}; details taken and location confirmed.",
    "Caller asked about the status of a request near {street}.",
    "Caller upset about repeated missed pickups on {street}. Apologised and logged.",
    "Caller reported a hazard on {street}; advised to keep clear until the crew arrives.",
    "Caller needs help with an application; lives on {street}. Explained the documents needed.",
    "Caller asked for opening hours and the office address on {street}.",
    "Caller reported a vehicle that has not moved for a week on {street}.",
    "Caller reported a dark streetlight on {street}; pole number not known.",
    "Caller wants to renew a license for a shop on {street}; sent the checklist.",
    "Caller complained about late-night noise on {street}.",
    "Caller reported a fallen branch on {street}, partly blocking the road.",
    "Caller asked for an interpreter; call continued with language line. Issue on {street}.",
]

CHAT_TRANSCRIPTS = {
    "en": [
        [("constituent", "Hi, I reported a pothole last week and nothing has happened."),
         ("agent", "Hello, this is {agent}. I am sorry about that. I have your report here as {reference}."),
         ("constituent", "Do you know when it will be fixed?"),
         ("agent", "It is on the crew's list for this week. I will add a note that it is getting worse.")],
        [("constituent", "How do I renew my business license online?"),
         ("agent", "Hi, {agent} here. You can renew from the licensing page; I have opened {reference} for you."),
         ("constituent", "Thanks, what documents do I need?"),
         ("agent", "Your current license number and proof of insurance. I will email you the checklist.")],
        [("constituent", "I need help paying my rent this month."),
         ("agent", "Hello, I am {agent}. I can help you start an application; your reference is {reference}."),
         ("constituent", "Thank you so much."),
         ("agent", "A caseworker will call you within two working days.")],
    ],
    "es": [
        [("constituent", "Hola, reporté un bache la semana pasada y nadie ha venido."),
         ("agent", "Hola, soy {agent}. Lo siento. Tengo su reporte aquí con el número {reference}."),
         ("constituent", "¿Saben cuándo lo van a arreglar?"),
         ("agent", "Está en la lista del equipo para esta semana. Anotaré que está empeorando.")],
        [("constituent", "¿Cómo renuevo mi licencia comercial por internet?"),
         ("agent", "Hola, habla {agent}. Puede renovarla en la página de licencias; abrí el caso {reference}."),
         ("constituent", "Gracias, ¿qué documentos necesito?"),
         ("agent", "Su número de licencia actual y el comprobante de seguro. Le envío la lista por correo.")],
        [("constituent", "Necesito ayuda para pagar la renta este mes."),
         ("agent", "Hola, soy {agent}. Le ayudo a iniciar la solicitud; su referencia es {reference}."),
         ("constituent", "Muchas gracias."),
         ("agent", "Una trabajadora social le llamará en dos días hábiles.")],
    ],
    "it": [
        [("constituent", "Buongiorno, ho segnalato una buca la settimana scorsa e non è successo niente."),
         ("agent", "Buongiorno, sono {agent}. Mi dispiace. Ho qui la sua segnalazione, pratica {reference}."),
         ("constituent", "Sapete quando la sistemerete?"),
         ("agent", "È nell'elenco della squadra per questa settimana. Aggiungo una nota che sta peggiorando.")],
        [("constituent", "Come rinnovo la licenza commerciale online?"),
         ("agent", "Salve, sono {agent}. Può rinnovarla dalla pagina delle licenze; ho aperto la pratica {reference}."),
         ("constituent", "Grazie, quali documenti servono?"),
         ("agent", "Il numero della licenza attuale e la prova dell'assicurazione. Le mando l'elenco via email.")],
        [("constituent", "Ho bisogno di aiuto per pagare l'affitto questo mese."),
         ("agent", "Buongiorno, sono {agent}. La aiuto ad avviare la domanda; il riferimento è {reference}."),
         ("constituent", "Grazie mille."),
         ("agent", "Un'assistente sociale la chiamerà entro due giorni lavorativi.")],
    ],
}

RESOLUTION_SUMMARIES = [
    "Repaired by the streets crew.",
    "Collected on the next scheduled route.",
    "Application approved; letter sent.",
    "License renewed and certificate emailed.",
    "Referred to the responsible agency; constituent informed.",
    "Duplicate of an existing case; merged.",
    "Vehicle removed by the tow contractor.",
    "Information given; no further action needed.",
    "Permit issued with conditions.",
    "Inspection found no violation; constituent informed.",
]

# Satisfaction survey comments (issue 7), by language and by how the answer went.
CSAT_COMMENTS = {
    "en": {
        "good": ["Quick and friendly, thank you.", "Fixed within a week. Great job.",
                 "The caseworker kept me informed the whole time.", "Clear answer, no runaround.",
                 "Much better than I expected from the city."],
        "mixed": ["It got done, but it took a while.", "Had to explain the problem twice.",
                  "OK in the end; the first reply was a template."],
        "bad": ["Nobody came; the case was just closed.", "Three weeks and the pothole is still there.",
                "The answer did not address my question.", "I never heard back after the first email."],
    },
    "es": {
        "good": ["Rápidos y amables, gracias.", "Lo arreglaron en una semana. Excelente.",
                 "Me mantuvieron informada todo el tiempo.", "Respuesta clara y en español, se agradece."],
        "mixed": ["Se resolvió, pero tardaron bastante.", "Tuve que explicar el problema dos veces.",
                  "Bien al final, aunque la primera respuesta fue automática."],
        "bad": ["Nadie vino y cerraron el caso.", "Tres semanas y el problema sigue igual.",
                "La respuesta no tenía que ver con mi pregunta."],
    },
    "it": {
        "good": ["Veloci e gentili, grazie.", "Risolto in una settimana. Ottimo lavoro.",
                 "Mi hanno tenuto aggiornato per tutto il tempo.", "Risposta chiara, e in italiano."],
        "mixed": ["Risolto, ma ci è voluto parecchio.", "Ho dovuto spiegare il problema due volte.",
                  "Alla fine bene, ma la prima risposta era generica."],
        "bad": ["Non è venuto nessuno e la pratica è stata chiusa.", "Dopo tre settimane il problema è ancora lì.",
                "La risposta non riguardava la mia domanda."],
    },
}
