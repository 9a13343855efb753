"""Small reference lists the demo generator draws from.

Lists of names are ordered roughly by real-world frequency: the generator puts
a Zipf-like weight on the rank, so common names are common and different
people share names, which is what makes entity resolution hard.
"""

from __future__ import annotations

# Languages of names, streets and cities; arrays index them in this order.
LANGS = ("de", "fr", "nl")


def _words(text: str) -> list[str]:
    """A list from a space-separated string (keeps long name lists compact)."""
    return text.split()


# --- first names by (language, gender), most common first -------------------
FIRST_NAMES: dict[tuple[str, str], list[str]] = {
    ("de", "m"): _words(
        "Thomas Michael Andreas Stefan Christian Peter Markus Frank Martin Alexander "
        "Daniel Jürgen Klaus Wolfgang Matthias Sebastian Tobias Florian Jan Uwe Bernd "
        "Maximilian Lukas Jonas Felix Paul Leon Tim Dirk Sven Hans Dieter Günter Manfred "
        "Ralf Torsten Johannes Simon Philipp Niklas Benjamin Friedrich Heinz Karl Werner "
        "Helmut Patrick Dennis Moritz Elias Noah Finn Julian Marcel Oliver Robert William"
    ),
    ("de", "f"): _words(
        "Sabine Susanne Petra Claudia Andrea Stefanie Nicole Katharina Julia Anna Maria "
        "Monika Ursula Christina Sandra Birgit Karin Gabriele Elisabeth Laura Lea Sarah "
        "Lisa Hannah Sophie Emma Mia Lena Johanna Franziska Melanie Jennifer Daniela "
        "Kerstin Heike Renate Ingrid Brigitte Martina Nina Jessica Marie Clara Charlotte "
        "Greta Emilia Margarete Jacqueline Tanja Anja"
    ),
    ("fr", "m"): _words(
        "Jean Pierre Michel Philippe Alain Nicolas Christophe Patrick Daniel Bernard Éric "
        "Laurent Frédéric Stéphane Sébastien Julien Thomas Antoine Mathieu François Olivier "
        "Lucas Hugo Louis Gabriel Arthur Jules Raphaël Théo Maxime Guillaume Vincent Romain "
        "Alexandre Jacques Henri Marc Yves Didier Benoît"
    ),
    ("fr", "f"): _words(
        "Marie Nathalie Isabelle Sylvie Catherine Françoise Christine Sandrine Valérie "
        "Sophie Céline Julie Camille Léa Manon Chloé Emma Inès Sarah Laura Aurélie Émilie "
        "Anne Monique Nicole Véronique Stéphanie Élodie Claire Pauline Jeanne Louise Alice "
        "Juliette Margaux Hélène Brigitte Martine Caroline Audrey"
    ),
    ("nl", "m"): _words(
        "Jan Johannes Cornelis Hendrik Willem Pieter Gerrit Jacobus Dirk Bram Daan Sem "
        "Lucas Levi Thijs Ruben Jeroen Martijn Bas Sander Tom Kees Joost Maarten Niels "
        "Stijn Wouter Koen Bart Erik Luuk Jesse Milan Finn Noah Mark Dennis Rob Frank Hans"
    ),
    ("nl", "f"): _words(
        "Maria Anna Johanna Cornelia Elisabeth Emma Julia Sophie Lotte Sanne Lisa Anouk "
        "Fleur Eva Iris Femke Ingrid Marieke Linda Monique Petra Esther Anke Mirjam Saskia "
        "Nienke Tess Zoë Lieke Noor Sara Mila Yara Evi Liza Wendy Ilse Karin Judith Ellen"
    ),
}

# --- last names by language, most common first ------------------------------
LAST_NAMES: dict[str, list[str]] = {
    "de": _words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
        "Schäfer Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun "
        "Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid "
        "Schulze Maier Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang "
        "Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich Keller Günther Frank Berger "
        "Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon Ludwig Böhm Winter "
        "Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer Groß Seidel Heinrich "
        "Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel Horn "
        "Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Gruber Hofer Steiner Moser "
        "Pichler Egger Brunner Frei Gerber Widmer Wyss Baumgartner Leitner Wimmer"
    ),
    "fr": _words(
        "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon "
        "Michel Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont "
        "Lambert Fontaine Rousseau Vincent Muller Lefèvre Faure André Mercier Blanc Guérin "
        "Boyer Garnier Chevalier François Legrand Gauthier Garcia Perrin Robin Clément Morin "
        "Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Lemaire "
        "Noël Meyer Dufour Meunier Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard "
        "Barbier Arnaud Martinez Gérard Roche Renard Schmitt Roy Leroux Colin Vidal Caron "
        "Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois "
        "Pierre Benoît Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Dupuis"
    ),
    "nl": [
        "de Jong",
        "Jansen",
        "de Vries",
        "van den Berg",
        "van Dijk",
        "Bakker",
        "Janssen",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "de Groot",
        "Bos",
        "Vos",
        "Peters",
        "Hendriks",
        "van Leeuwen",
        "Dekker",
        "Brouwer",
        "de Wit",
        "Dijkstra",
        "Smits",
        "de Graaf",
        "van der Meer",
        "van der Linden",
        "Kok",
        "Jacobs",
        "de Haan",
        "Vermeulen",
        "van den Heuvel",
        "van der Veen",
        "van den Broek",
        "de Bruijn",
        "de Bruin",
        "van der Heijden",
        "Schouten",
        "van Beek",
        "Willems",
        "van Vliet",
        "van de Ven",
        "Hoekstra",
        "Maas",
        "Verhoeven",
        "Koster",
        "van Dam",
        "van der Wal",
        "Prins",
        "Blom",
        "Huisman",
        "Peeters",
        "Janssens",
        "Maes",
        "Mertens",
        "Claes",
        "Goossens",
        "Wouters",
        "De Smet",
        "Vandenberghe",
        "Hermans",
        "Claessens",
        "Michiels",
        "Desmet",
        "Aerts",
    ],
}

# Formal first name -> nickname (used as name noise in source records).
NICKNAMES: dict[str, str] = {
    "William": "Bill",
    "Robert": "Bob",
    "Katharina": "Kathi",
    "Elisabeth": "Lisa",
    "Johannes": "Hannes",
    "Alexander": "Alex",
    "Christina": "Tina",
    "Margarete": "Grete",
    "Franziska": "Franzi",
    "Maximilian": "Max",
    "Stefanie": "Steffi",
    "Michael": "Michi",
    "Thomas": "Tom",
    "Andreas": "Andi",
    "Wolfgang": "Wolfi",
    "Jacqueline": "Jacky",
    "Nicolas": "Nico",
    "Benjamin": "Ben",
    "Sebastian": "Basti",
    "Tobias": "Tobi",
    "Daniela": "Dani",
    "Johanna": "Hanna",
    "Friedrich": "Fritz",
    "Matthias": "Matze",
    "Gabriele": "Gabi",
    "Susanne": "Susi",
    "Jennifer": "Jenny",
    "Christian": "Chris",
    "Florian": "Flo",
    "Dieter": "Didi",
    "Hendrik": "Henk",
    "Willem": "Wim",
    "Pieter": "Piet",
    "Jacobus": "Koos",
    "Cornelia": "Corrie",
    "Alexandre": "Alex",
    "Frédéric": "Fred",
    "Christophe": "Chris",
    "Catherine": "Cathy",
    "Isabelle": "Isa",
    "Stéphanie": "Steph",
    "Sébastien": "Seb",
    "Maxime": "Max",
    "Valérie": "Val",
    "Patrick": "Pat",
    "Jessica": "Jessi",
    "Daniel": "Dani",
    "Benoît": "Ben",
    "Guillaume": "Guillaume",
}
NICKNAMES = {k: v for k, v in NICKNAMES.items() if k != v}

# --- places -----------------------------------------------------------------
# country -> (calling code, share of persons, postal code width, mobile prefixes,
#             subscriber digits, country names used as noise)
COUNTRIES: dict[str, dict] = {
    "DE": dict(
        cc="49",
        share=0.50,
        width=5,
        mobile=["151", "152", "157", "160", "170", "171", "172", "175", "176", "177", "178", "179"],
        digits=7,
        names=["Germany", "Deutschland"],
    ),
    "AT": dict(
        cc="43",
        share=0.10,
        width=4,
        mobile=["650", "660", "664", "676", "677", "680", "681", "699"],
        digits=7,
        names=["Austria", "Österreich"],
    ),
    "CH": dict(
        cc="41",
        share=0.08,
        width=4,
        mobile=["76", "77", "78", "79"],
        digits=7,
        names=["Switzerland", "Schweiz", "Suisse"],
    ),
    "NL": dict(
        cc="31", share=0.14, width=4, mobile=["6"], digits=8, names=["Netherlands", "Nederland"]
    ),
    "FR": dict(cc="33", share=0.12, width=5, mobile=["6", "7"], digits=8, names=["France"]),
    "BE": dict(
        cc="32",
        share=0.06,
        width=4,
        mobile=[
            "470",
            "471",
            "472",
            "473",
            "474",
            "475",
            "476",
            "477",
            "478",
            "479",
            "484",
            "485",
            "486",
            "487",
            "488",
            "489",
            "490",
            "491",
            "492",
            "493",
            "494",
            "495",
            "496",
            "497",
            "498",
            "499",
        ],
        digits=6,
        names=["Belgium", "België", "Belgique"],
    ),
}

# (country, city, region, postal from, postal to, postal step, language, weight)
CITIES: list[tuple[str, str, str, int, int, int, str, float]] = [
    ("DE", "Berlin", "Berlin", 10115, 14199, 1, "de", 3.6),
    ("DE", "Hamburg", "Hamburg", 20095, 22769, 1, "de", 1.8),
    ("DE", "München", "Bayern", 80331, 81929, 1, "de", 1.5),
    ("DE", "Köln", "Nordrhein-Westfalen", 50667, 51149, 1, "de", 1.1),
    ("DE", "Frankfurt am Main", "Hessen", 60306, 60599, 1, "de", 0.75),
    ("DE", "Stuttgart", "Baden-Württemberg", 70173, 70629, 1, "de", 0.63),
    ("DE", "Düsseldorf", "Nordrhein-Westfalen", 40210, 40629, 1, "de", 0.62),
    ("DE", "Leipzig", "Sachsen", 4103, 4357, 1, "de", 0.6),
    ("DE", "Dortmund", "Nordrhein-Westfalen", 44135, 44388, 1, "de", 0.59),
    ("DE", "Essen", "Nordrhein-Westfalen", 45127, 45359, 1, "de", 0.58),
    ("DE", "Bremen", "Bremen", 28195, 28779, 1, "de", 0.57),
    ("DE", "Dresden", "Sachsen", 1067, 1328, 1, "de", 0.56),
    ("DE", "Hannover", "Niedersachsen", 30159, 30659, 1, "de", 0.54),
    ("DE", "Nürnberg", "Bayern", 90402, 90491, 1, "de", 0.52),
    ("DE", "Duisburg", "Nordrhein-Westfalen", 47051, 47279, 1, "de", 0.5),
    ("DE", "Bochum", "Nordrhein-Westfalen", 44787, 44894, 1, "de", 0.36),
    ("DE", "Bielefeld", "Nordrhein-Westfalen", 33602, 33739, 1, "de", 0.33),
    ("DE", "Bonn", "Nordrhein-Westfalen", 53111, 53229, 1, "de", 0.33),
    ("DE", "Mannheim", "Baden-Württemberg", 68159, 68309, 1, "de", 0.31),
    ("DE", "Karlsruhe", "Baden-Württemberg", 76131, 76229, 1, "de", 0.31),
    ("DE", "Münster", "Nordrhein-Westfalen", 48143, 48167, 1, "de", 0.31),
    ("DE", "Augsburg", "Bayern", 86150, 86199, 1, "de", 0.3),
    ("DE", "Freiburg im Breisgau", "Baden-Württemberg", 79098, 79117, 1, "de", 0.23),
    ("DE", "Mainz", "Rheinland-Pfalz", 55116, 55131, 1, "de", 0.22),
    ("DE", "Kiel", "Schleswig-Holstein", 24103, 24159, 1, "de", 0.25),
    ("DE", "Rostock", "Mecklenburg-Vorpommern", 18055, 18147, 1, "de", 0.21),
    ("DE", "Erfurt", "Thüringen", 99084, 99099, 1, "de", 0.21),
    ("DE", "Magdeburg", "Sachsen-Anhalt", 39104, 39130, 1, "de", 0.24),
    ("DE", "Potsdam", "Brandenburg", 14467, 14482, 1, "de", 0.18),
    ("DE", "Saarbrücken", "Saarland", 66111, 66133, 1, "de", 0.18),
    ("AT", "Wien", "Wien", 1010, 1230, 10, "de", 1.9),
    ("AT", "Graz", "Steiermark", 8010, 8063, 1, "de", 0.29),
    ("AT", "Linz", "Oberösterreich", 4020, 4040, 1, "de", 0.21),
    ("AT", "Salzburg", "Salzburg", 5020, 5026, 1, "de", 0.16),
    ("AT", "Innsbruck", "Tirol", 6020, 6080, 1, "de", 0.13),
    ("AT", "Klagenfurt", "Kärnten", 9020, 9073, 1, "de", 0.1),
    ("AT", "St. Pölten", "Niederösterreich", 3100, 3109, 1, "de", 0.06),
    ("AT", "Bregenz", "Vorarlberg", 6900, 6900, 1, "de", 0.03),
    ("CH", "Zürich", "Zürich", 8001, 8099, 1, "de", 0.42),
    ("CH", "Genève", "Genève", 1201, 1209, 1, "fr", 0.2),
    ("CH", "Basel", "Basel-Stadt", 4001, 4059, 1, "de", 0.17),
    ("CH", "Lausanne", "Vaud", 1003, 1018, 1, "fr", 0.14),
    ("CH", "Bern", "Bern", 3001, 3030, 1, "de", 0.13),
    ("CH", "Winterthur", "Zürich", 8400, 8411, 1, "de", 0.11),
    ("CH", "Luzern", "Luzern", 6003, 6006, 1, "de", 0.08),
    ("CH", "St. Gallen", "St. Gallen", 9000, 9016, 1, "de", 0.08),
    ("NL", "Amsterdam", "Noord-Holland", 1011, 1109, 1, "nl", 0.87),
    ("NL", "Rotterdam", "Zuid-Holland", 3011, 3089, 1, "nl", 0.65),
    ("NL", "Den Haag", "Zuid-Holland", 2491, 2599, 1, "nl", 0.55),
    ("NL", "Utrecht", "Utrecht", 3511, 3585, 1, "nl", 0.36),
    ("NL", "Eindhoven", "Noord-Brabant", 5611, 5658, 1, "nl", 0.24),
    ("NL", "Groningen", "Groningen", 9711, 9747, 1, "nl", 0.23),
    ("NL", "Tilburg", "Noord-Brabant", 5011, 5049, 1, "nl", 0.22),
    ("NL", "Almere", "Flevoland", 1311, 1363, 1, "nl", 0.21),
    ("NL", "Breda", "Noord-Brabant", 4811, 4839, 1, "nl", 0.18),
    ("NL", "Nijmegen", "Gelderland", 6511, 6546, 1, "nl", 0.18),
    ("NL", "Haarlem", "Noord-Holland", 2011, 2037, 1, "nl", 0.16),
    ("NL", "Maastricht", "Limburg", 6211, 6229, 1, "nl", 0.12),
    ("FR", "Paris", "Île-de-France", 75001, 75020, 1, "fr", 2.1),
    ("FR", "Marseille", "Provence-Alpes-Côte d'Azur", 13001, 13016, 1, "fr", 0.87),
    ("FR", "Lyon", "Auvergne-Rhône-Alpes", 69001, 69009, 1, "fr", 0.52),
    ("FR", "Toulouse", "Occitanie", 31000, 31500, 100, "fr", 0.49),
    ("FR", "Nice", "Provence-Alpes-Côte d'Azur", 6000, 6300, 100, "fr", 0.34),
    ("FR", "Nantes", "Pays de la Loire", 44000, 44300, 100, "fr", 0.32),
    ("FR", "Montpellier", "Occitanie", 34000, 34090, 10, "fr", 0.29),
    ("FR", "Strasbourg", "Grand Est", 67000, 67200, 100, "fr", 0.29),
    ("FR", "Bordeaux", "Nouvelle-Aquitaine", 33000, 33800, 100, "fr", 0.26),
    ("FR", "Lille", "Hauts-de-France", 59000, 59800, 100, "fr", 0.23),
    ("FR", "Rennes", "Bretagne", 35000, 35700, 100, "fr", 0.22),
    ("FR", "Grenoble", "Auvergne-Rhône-Alpes", 38000, 38100, 100, "fr", 0.16),
    ("FR", "Dijon", "Bourgogne-Franche-Comté", 21000, 21000, 1, "fr", 0.16),
    ("BE", "Bruxelles", "Bruxelles-Capitale", 1000, 1210, 10, "fr", 1.2),
    ("BE", "Antwerpen", "Vlaanderen", 2000, 2660, 10, "nl", 0.53),
    ("BE", "Gent", "Vlaanderen", 9000, 9052, 1, "nl", 0.26),
    ("BE", "Charleroi", "Wallonie", 6000, 6061, 1, "fr", 0.2),
    ("BE", "Liège", "Wallonie", 4000, 4032, 1, "fr", 0.2),
    ("BE", "Brugge", "Vlaanderen", 8000, 8380, 10, "nl", 0.12),
    ("BE", "Namur", "Wallonie", 5000, 5101, 1, "fr", 0.11),
    ("BE", "Leuven", "Vlaanderen", 3000, 3012, 1, "nl", 0.1),
]

STREETS: dict[str, list[str]] = {
    "de": [
        "Hauptstraße",
        "Bahnhofstraße",
        "Schulstraße",
        "Gartenstraße",
        "Dorfstraße",
        "Bergstraße",
        "Lindenstraße",
        "Kirchstraße",
        "Waldstraße",
        "Ringstraße",
        "Goethestraße",
        "Schillerstraße",
        "Wiesenweg",
        "Am Markt",
        "Birkenweg",
        "Rosenweg",
        "Mühlenweg",
        "Feldstraße",
        "Mozartstraße",
        "Kirchweg",
        "Beethovenstraße",
        "Talstraße",
        "Lindenallee",
        "Eichenweg",
        "Parkstraße",
        "Blumenstraße",
        "Sonnenstraße",
        "Jahnstraße",
        "Poststraße",
        "Friedrichstraße",
        "Wilhelmstraße",
        "Marktplatz",
        "Am Bahnhof",
        "Industriestraße",
        "Kastanienallee",
        "Tulpenweg",
        "Ahornweg",
        "Uhlandstraße",
        "Luisenstraße",
        "Schlossstraße",
    ],
    "nl": [
        "Kerkstraat",
        "Schoolstraat",
        "Molenstraat",
        "Dorpsstraat",
        "Stationsstraat",
        "Nieuwstraat",
        "Markt",
        "Julianastraat",
        "Wilhelminastraat",
        "Beatrixstraat",
        "Kastanjelaan",
        "Eikenlaan",
        "Lindelaan",
        "Parallelweg",
        "Industrieweg",
        "Sportlaan",
        "Prinses Irenestraat",
        "Oranjestraat",
        "Hoofdstraat",
        "Molenweg",
        "Brugstraat",
        "Veldstraat",
        "Nieuwe Weg",
        "Zandstraat",
        "Kloosterstraat",
        "Hofstraat",
        "Emmastraat",
        "Tulpstraat",
        "Rozenstraat",
        "Burgemeester Jansenstraat",
    ],
    "fr": [
        "Rue de la Paix",
        "Rue Victor Hugo",
        "Rue de la République",
        "Avenue Jean Jaurès",
        "Rue Pasteur",
        "Rue du Moulin",
        "Rue de l'Église",
        "Place de la Mairie",
        "Rue des Écoles",
        "Grande Rue",
        "Rue du Château",
        "Rue de la Gare",
        "Avenue de la Liberté",
        "Rue Jules Ferry",
        "Rue Nationale",
        "Boulevard Gambetta",
        "Rue Voltaire",
        "Allée des Tilleuls",
        "Rue des Lilas",
        "Chemin des Vignes",
        "Rue du Général de Gaulle",
        "Rue Saint-Jacques",
        "Avenue Foch",
        "Rue Émile Zola",
        "Rue des Roses",
    ],
}

# Second address lines; some carry a comma so CSV quoting gets exercised.
ADDRESS_LINE2: dict[str, list[str]] = {
    "de": [
        "1. OG",
        "2. OG",
        "3. OG",
        "Hinterhaus",
        "Seitenflügel",
        "Whg. 4",
        "Whg. 12",
        "c/o Weber",
        "EG links",
        "Gebäude B, 2. OG",
    ],
    "nl": ["3 hoog", "bus 2", "huis A", "1e etage", "bus 12", "achterhuis"],
    "fr": [
        "Bât. B",
        "Apt 12",
        "Bâtiment A, 2e étage",
        "Résidence Les Pins",
        "Appt 3",
        "Escalier C",
    ],
}

# Street-name abbreviations applied as noise (long form -> short form).
STREET_ABBREVIATIONS: list[tuple[str, str]] = [
    ("straße", "str."),
    ("Straße", "Str."),
    ("straat", "str."),
    ("Avenue", "Av."),
    ("Boulevard", "Bd"),
    ("Place", "Pl."),
]

# OCR-like confusions (seen -> written) for the ``ocr_error`` noise: glyphs a
# scanner or a hurried reader of a paper form mixes up. One confusion, at its
# first occurrence, per affected field.
OCR_CONFUSIONS: list[tuple[str, str]] = [
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("d", "cl"),
    ("ii", "u"),
    ("u", "ii"),
    ("vv", "w"),
    ("w", "vv"),
    ("l", "1"),
    ("1", "l"),
    ("I", "l"),
    ("O", "0"),
    ("0", "O"),
    ("S", "5"),
    ("5", "S"),
    ("B", "8"),
    ("8", "B"),
]

# Spelling rules for the ``phonetic_variant`` noise: (languages of the names
# they apply to, prefix, spellings, suffix, spellings that may be written; ()
# = any of them). A name whose text matches prefix + a spelling + suffix (RE2
# patterns) may get another spelling in its place: Meier/Meyer/Maier/Mayer,
# Schmidt/Schmitt/Schmid, Brandt/Brand, Philipp/Filip, Christoph/Kristof,
# Stefan/Stephan, Karl/Carl, Lukas/Lucas, Erik/Eric, Dieter/Diter,
# Thomas/Tomas, Günther/Günter, Meijer/Meyer, Dijkstra/Dykstra.
PHONETIC_RULES: list[tuple[tuple[str, ...], str, tuple[str, ...], str, tuple[str, ...]]] = [
    (("de",), "", ("ei", "ey", "ai", "ay"), "[a-zß]", ()),
    (("nl",), "", ("ij", "y"), "", ("y",)),
    (("de", "nl", "fr"), "mi", ("dt", "tt", "d", "t"), "$", ()),
    (("de",), "[ln]", ("dt", "d"), "$", ("d",)),
    (("de", "nl", "fr"), "^", ("Ph", "F"), "[aeiouy]", ("F",)),
    (("de", "nl", "fr"), "[aeiouy]", ("ph", "f"), "[aeiouy]|$", ("f",)),
    (("de",), "^Ste", ("ph", "f"), "a", ()),
    (("de", "nl", "fr"), "i", ("pp", "p"), "$", ()),
    (("de", "nl"), "^", ("Chr", "Kr"), "", ("Kr",)),
    (("de", "nl"), "^", ("C", "K"), "a[rt]|la|o[er]", ()),
    (("de", "nl"), "[aeiouy]", ("c", "k"), "[aou]", ()),
    (("de", "nl"), "[Ee]r", ("ik", "ic"), "$", ()),
    (("de", "nl"), "^[A-Z][a-z]?", ("ie", "i"), "[dlst]", ("i",)),
    (("de", "nl"), "^", ("Th", "T"), "o", ()),
    (("de",), "ie|[ln]", ("th", "t"), "er", ()),
]

EMAIL_DOMAINS: dict[str, list[tuple[str, float]]] = {
    "DE": [
        ("gmail.com", 22),
        ("gmx.de", 20),
        ("web.de", 20),
        ("t-online.de", 10),
        ("outlook.com", 8),
        ("yahoo.de", 5),
        ("icloud.com", 5),
        ("freenet.de", 4),
        ("posteo.de", 3),
        ("hotmail.de", 3),
    ],
    "AT": [
        ("gmx.at", 25),
        ("gmail.com", 25),
        ("aon.at", 20),
        ("chello.at", 10),
        ("outlook.com", 10),
        ("icloud.com", 5),
        ("yahoo.com", 5),
    ],
    "CH": [
        ("bluewin.ch", 30),
        ("gmail.com", 25),
        ("gmx.ch", 15),
        ("hotmail.ch", 10),
        ("sunrise.ch", 10),
        ("icloud.com", 10),
    ],
    "NL": [
        ("gmail.com", 30),
        ("ziggo.nl", 20),
        ("kpnmail.nl", 15),
        ("hotmail.com", 15),
        ("outlook.com", 10),
        ("xs4all.nl", 5),
        ("icloud.com", 5),
    ],
    "FR": [
        ("gmail.com", 30),
        ("orange.fr", 20),
        ("free.fr", 15),
        ("laposte.net", 10),
        ("sfr.fr", 10),
        ("hotmail.fr", 10),
        ("wanadoo.fr", 5),
    ],
    "BE": [
        ("gmail.com", 30),
        ("skynet.be", 20),
        ("telenet.be", 20),
        ("hotmail.com", 15),
        ("proximus.be", 10),
        ("outlook.com", 5),
    ],
}

# --- products ---------------------------------------------------------------
RETAILER = "Nordpfad"
BRANDS = [
    "Alpenrad",
    "Nordwind",
    "Velora",
    "Trailhawk",
    "Bergsteig",
    "Fjellmark",
    "Kestrel",
    "Urbano",
    "Stratos",
    "Lumina",
    "Ostwind",
    "Grünfeld",
    "Montaro",
    "Rivale",
    "Sentiero",
]
# category -> (number of products, median price EUR, item nouns)
CATEGORIES: dict[str, tuple[int, float, list[str]]] = {
    "Bikes": (
        15,
        950.0,
        ["City Bike", "Trekking Bike", "E-Bike", "Mountain Bike", "Gravel Bike", "Road Bike"],
    ),
    "Bike Parts": (
        40,
        35.0,
        [
            "Tyre",
            "Inner Tube",
            "Chain",
            "Brake Pads",
            "Saddle",
            "Pedals",
            "Light Set",
            "Lock",
            "Pump",
            "Cassette",
        ],
    ),
    "Apparel": (
        40,
        55.0,
        [
            "Rain Jacket",
            "Softshell Jacket",
            "Fleece",
            "Base Layer",
            "Cycling Jersey",
            "Hiking Pants",
            "Gloves",
            "Beanie",
        ],
    ),
    "Footwear": (
        15,
        110.0,
        ["Hiking Boots", "Trail Runners", "Cycling Shoes", "Approach Shoes", "Sandals"],
    ),
    "Camping": (
        20,
        75.0,
        ["Tent", "Sleeping Bag", "Sleeping Mat", "Stove", "Cookset", "Headlamp", "Camp Chair"],
    ),
    "Outdoor Equipment": (
        20,
        85.0,
        ["Backpack", "Trekking Poles", "Water Filter", "Daypack", "Helmet", "Climbing Harness"],
    ),
    "Accessories": (
        30,
        18.0,
        [
            "Water Bottle",
            "Socks",
            "Cap",
            "Buff",
            "Bike Bell",
            "Repair Kit",
            "Map Case",
            "Sunglasses",
        ],
    ),
    "Nutrition": (10, 4.5, ["Energy Bar", "Energy Gel", "Electrolyte Tabs", "Recovery Shake"]),
    "Electronics": (
        10,
        180.0,
        ["GPS Computer", "Action Camera", "Heart Rate Strap", "Power Bank", "Smart Light"],
    ),
}

# --- campaigns --------------------------------------------------------------
SEASON_NAMES = {
    1: "New Year Sale",
    2: "Winter Sale",
    3: "Spring Opening",
    4: "Spring Sale",
    5: "Bike Season",
    6: "Summer Outdoor",
    7: "Summer Sale",
    8: "Holiday Deals",
    9: "Back to Trail",
    10: "Autumn Deals",
    11: "Black Friday",
    12: "Christmas",
}
