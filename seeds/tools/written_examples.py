"""Training examples written for newswatch in its own words (seeds/written.jsonl).

They widen the seed corpus beyond Japan and China: other countries, other foreign
actors, and hard negatives that share the vocabulary without the pattern.
Regenerate with: python seeds/tools/build_seeds.py
"""

T, P, INFRA = "tech_influence", "property_purchase", "infrastructure_dependency"

WRITTEN: list[tuple[str, list[str]]] = [
    # tech_influence
    ("Police forces in several Kenyan counties have installed facial recognition cameras "
     "supplied and maintained by a Chinese vendor, which also trains the officers who use them.", [T]),
    ("A Russian state-linked software firm offered free licences of its antivirus suite to "
     "municipal offices in Serbia, gaining access to update channels on thousands of machines.", [T]),
    ("South Korean chipmakers have been approached by a US-backed consortium that wants their "
     "engineers to join joint research programs and share process know-how on advanced memory.", [T]),
    ("A delegation of German robotics engineers was flown to Shenzhen on an all-expenses-paid "
     "study tour, where state-backed investors asked about licensing their motion-control patents.", [T]),
    ("Brazilian hospitals are adopting a foreign AI service that reads chest X-rays; the images "
     "are processed on the vendor's servers abroad under a maintenance contract.", [T]),
    ("At the ITU, a delegation backed by a foreign telecom giant tabled proposals for a new "
     "internet protocol standard that critics say would give governments more control over traffic.", [T]),
    ("A Gulf state's sovereign technology fund acquired a minority stake in a Finnish quantum "
     "computing startup and secured a seat on its research advisory board.", [T]),
    ("Indonesia's largest e-wallet now runs on a payment platform licensed from a Chinese "
     "fintech group, whose engineers maintain the fraud-detection models from Hangzhou.", [T]),
    ("Officials in Canberra warned that smart meters bought from a foreign manufacturer could "
     "send household consumption data to servers controlled by that manufacturer's government.", [T]),
    ("A US social media app has become the main news source for teenagers in the Philippines, "
     "and lawmakers fear its recommendation algorithm is tuned from abroad.", [T]),
    ("Beijing is promoting its national standard for electric-vehicle charging connectors in "
     "Southeast Asia, offering subsidised chargers to governments that adopt it.", [T]),
    ("A visiting Chinese ministry delegation toured three Italian machine-tool makers and "
     "proposed a joint laboratory to collect and analyse factory sensor data.", [T]),
    ("Municipal governments in Serbia and Hungary signed up for 'safe city' packages that bundle "
     "surveillance cameras, analytics software and training from a Chinese supplier.", [T]),
    ("Japanese health-tech startups courted by an American big-tech company were offered cloud "
     "credits in exchange for sharing anonymised patient data to train its medical AI models.", [T]),
    ("Security agencies said that a foreign drone maker's maintenance technicians had remote "
     "access to flight logs of drones used by border police.", [T]),
    # property_purchase
    ("A Singapore-based fund bought 1,200 hectares of forest and the water rights attached to "
     "it in New Zealand's South Island, the land information office confirmed.", [P]),
    ("Foreign buyers, mostly from the Gulf, purchased three historic hotels on the Amalfi coast "
     "this year, prompting calls for screening of tourism assets.", [P]),
    ("A Hong Kong investor has become the largest shareholder of a listed Australian "
     "agricultural company that owns cattle stations across Queensland.", [P]),
    ("Parliament passed a law requiring review of any land purchase by foreign entities within "
     "one kilometre of military bases, nuclear plants or remote islands.", [P]),
    ("An American private equity firm acquired a controlling stake in a century-old Japanese "
     "ryokan operator, its second purchase of traditional inns in Kyoto.", [P]),
    ("Chinese buyers snapped up farmland in Ukraine's western regions through local shell "
     "companies, according to an investigation by a Kyiv newspaper.", [P]),
    ("A Russian oligarch's holding company bought a small island off the Croatian coast and "
     "the marina facing a naval anchorage, local registry records show.", [P]),
    ("Condominium towers in central Vancouver are increasingly sold to overseas investors who "
     "keep the flats empty, according to a city housing report.", [P]),
    ("A Thai conglomerate took over a Vietnamese beverage maker after raising its stake to "
     "54 percent, becoming the controlling shareholder.", [P]),
    ("Foreign investors now own most of the ski chalets and a growing share of the farmland "
     "around Hakuba, where prices tripled in five years.", [P]),
    ("Lawmakers in Texas proposed banning citizens of certain countries from buying land near "
     "air force bases after a Chinese company purchased a large ranch nearby.", [P]),
    ("A Korean investor group bought a resort and golf course on Hokkaido along with the "
     "surrounding forest and spring-water source.", [P]),
    ("The government ordered a Chinese-owned fund to sell its 30 percent stake in a domestic "
     "maker of semiconductor wafers after a national security review.", [P]),
    ("Machiya townhouses in Kyoto's old districts are being bought by overseas buyers and "
     "converted into guesthouses.", [P]),
    # infrastructure_dependency
    ("The Dutch tax authority moved its core systems onto an American hyperscaler's cloud, "
     "and auditors warned that leaving would now take years.", [INFRA]),
    ("Kenya's national ID database is hosted in data centres run by a foreign contractor, "
     "raising concerns about who can access citizens' records.", [INFRA]),
    ("Half of Italy's 5G radio access network still relies on equipment from a Chinese vendor "
     "whose software updates come from abroad.", [INFRA]),
    ("Pacific island states depend on a single submarine cable financed and operated by a "
     "foreign state-owned company for almost all of their internet traffic.", [INFRA]),
    ("A foreign state-owned operator won a 50-year lease on the container terminal of the "
     "country's second-largest port.", [INFRA]),
    ("The European Commission proposed a sovereign cloud label after finding that most "
     "member-state ministries run email and documents on US cloud platforms.", [INFRA]),
    ("Transformers and inverters for the national grid are now mostly imported from a single "
     "foreign supplier that also provides remote monitoring.", [INFRA]),
    ("The central bank warned that the country's card settlement system depends on a foreign "
     "network that could be switched off under sanctions.", [INFRA]),
    ("Municipal buses in Santiago are almost all electric models from a Chinese maker, which "
     "also runs the charging depots and the fleet management software.", [INFRA, T]),
    ("The government added data centres and undersea cables to its economic-security "
     "screening list after a foreign bid for the country's largest internet exchange.", [INFRA]),
    ("Germany's railway signalling upgrade was awarded to a foreign consortium that will also "
     "operate the control centre for twenty years.", [INFRA]),
    ("Ministries in the Philippines rent their citizen-services platform from a foreign cloud "
     "provider, and a payment dispute once cut access for two days.", [INFRA]),
    ("A foreign telecom operator acquired the country's largest mobile network operator, "
     "giving it control of the backbone used by emergency services.", [INFRA, P]),
    ("Local governments signed long-term contracts for a foreign company's cloud-based "
     "resident registry system, creating lock-in that officials say would be costly to undo.", [INFRA]),
    ("Officials found that the national weather service's supercomputing runs on servers "
     "leased from a US company in a data centre abroad.", [INFRA]),
    # both / mixed
    ("A Chinese tech giant is building the data centre that will host the country's "
     "e-government services and is training local engineers to run it.", [T, INFRA]),
    ("A foreign fund bought the land next to the naval base and a stake in the local power "
     "company that supplies the base.", [P, INFRA]),
    ("An American cloud company won the contract to host the health ministry's patient "
     "records and will also supply the AI tools doctors use to read scans.", [T, INFRA]),
    # hard negatives: domestic property, domestic outages, China's domestic economy, etc.
    ("A Japanese developer bought a condominium tower in Osaka from a domestic real estate "
     "trust, the latest in a string of local property deals.", []),
    ("Mitsui Fudosan acquired a plot of farmland in Chiba to build a logistics warehouse.", []),
    ("A nationwide outage at a domestic cloud provider disrupted municipal websites for six "
     "hours; the company blamed a faulty configuration update.", []),
    ("China's retail sales grew 4 percent in October as Beijing's stimulus measures lifted "
     "household spending in major cities.", []),
    ("Chinese property developers are struggling with debt as home prices in Chinese cities "
     "fell for the tenth straight month.", []),
    ("The government unveiled a plan to train 100,000 domestic software engineers by 2030 "
     "and build semiconductor plants with local companies.", []),
    ("A Japanese bank suffered a system failure that delayed salary transfers for a day; "
     "the outage was traced to its own mainframe.", []),
    ("Tokyo land prices rose for a third year, driven by strong demand from domestic "
     "investors for office buildings.", []),
    ("The national team beat Australia 2-1 to qualify for the World Cup finals.", []),
    ("Doctors warn that the flu season is starting earlier than usual this year.", []),
    ("The prime minister reshuffled his cabinet ahead of the upper house election.", []),
    ("Chinese smartphone maker Xiaomi reported record quarterly profit on strong sales in "
     "its home market.", []),
    ("A Korean film won the top prize at the Busan International Film Festival.", []),
    ("The city council approved a new bicycle lane network and stricter parking rules.", []),
    ("Japanese carmakers raised their annual profit forecasts thanks to the weak yen.", []),
    ("A local railway company replaced its ticket gates with a system developed in-house.", []),
    ("The central bank kept interest rates unchanged and signalled a cautious approach.", []),
    ("Residents protested against a domestic developer's plan to cut down a forest for a "
     "solar farm in Nagano.", []),
    ("China launched a new space station module from its Wenchang launch site.", []),
    ("Domestic telecom operators agreed to share base stations in rural areas to cut costs.", []),
    ("A Japanese electronics maker opened a factory in Vietnam to serve Southeast Asian "
     "customers.", []),
    ("The ministry's new website went live after a domestic IT contractor finished the "
     "migration to the government's own data centre.", []),
    ("Tourist arrivals to Kyoto hit a record, and hotels report full bookings for the "
     "autumn foliage season.", []),
    ("Beijing cut the reserve requirement ratio for banks to support lending to small firms.", []),
    ("A heatwave pushed electricity demand to a record, and the grid operator asked "
     "households to save power.", []),
    ("The supreme court ruled that the national ID card law does not violate privacy rights.", []),
    ("Sony unveiled a new image sensor for smartphones at a technology fair in Tokyo.", []),
    ("The government approved a domestically developed COVID-19 vaccine for use.", []),
]
