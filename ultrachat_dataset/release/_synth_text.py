"""Word lists and sentences the synthesizer composes dialogues from (data, not logic)."""

TOPICS = """renewable energy|urban gardening|machine learning|ancient Rome|jazz music|marine biology|
public health|personal finance|space exploration|climate policy|modern architecture|video game design|
medieval castles|coffee farming|electric vehicles|the immune system|classical ballet|volcanoes|
remote work|photography|the Renaissance|small business marketing|cybersecurity|sleep science|
the human brain|ocean currents|sustainable fashion|board games|the printing press|honey bees|
quantum computing|street food|wildlife conservation|the stock market|mountain climbing|poetry|
language learning|solar panels|the Silk Road|film editing|nutrition|public transport|desert ecosystems|
blockchain|early childhood education|the French Revolution|recycling|mental health|rainforests|
sports psychology|digital privacy|wine making|the water cycle|entrepreneurship|folk tales|
3D printing|bird migration|job interviews|the Olympic Games|home cooking|glaciers|opera|
data visualization|the cold war|team leadership|vaccines|volunteering|city planning|chess""".replace(
    "\n", "").split("|")

NOUNS = """system|process|community|method|result|approach|project|idea|student|teacher|city|country|
company|market|product|story|question|answer|problem|solution|example|history|culture|technology|
environment|research|study|experience|benefit|challenge|strategy|practice|resource|tool|model|
effect|change|family|friend|group|team|leader|member|report|plan|goal|value|quality|skill|habit|
region|season|material|design|structure|pattern|network|audience|artist|writer|reader|customer|
scientist|engineer|government|policy|budget|schedule|decision|risk|opportunity|tradition|garden|
river|forest|island|village|museum|library|kitchen|journey|festival|language|season|signal""".replace(
    "\n", "").split("|")

ADJECTIVES = """important|useful|common|simple|complex|modern|traditional|local|global|early|recent|
significant|effective|popular|natural|social|economic|cultural|practical|creative|careful|strong|
clear|different|similar|specific|general|personal|public|private|historical|scientific|digital|
small|large|new|old|rich|diverse|sustainable|reliable|flexible|healthy|safe|quick|gradual|regular|
unique|typical|main|major|minor|basic|advanced|positive|negative|critical|essential|valuable""".replace(
    "\n", "").split("|")

VERBS = """improves|supports|changes|shapes|affects|creates|requires|includes|provides|reduces|
increases|explains|describes|influences|connects|protects|builds|helps|allows|encourages|
develops|reflects|combines|reveals|balances|strengthens|transforms|measures|organizes|follows""".replace(
    "\n", "").split("|")

ADVERBS = """often|usually|clearly|quickly|slowly|carefully|directly|easily|rarely|gradually|
significantly|naturally|actually|generally|especially|typically|widely|largely|deeply|steadily""".replace(
    "\n", "").split("|")

SENTENCE_TEMPLATES = [
    "The {adj} {noun} {verb} the {noun2} in many ways.",
    "In most cases, a {adj} {noun} {adv} {verb} how people think about the {noun2}.",
    "It is {adj} to remember that every {noun} has its own {noun2}.",
    "Many experts agree that the {noun} {verb} the {adj} {noun2} over time.",
    "One {adj} example is the way a {noun} {verb} the {noun2} of a {noun3}.",
    "This is why the {noun} is {adv} seen as {adj} for the whole {noun2}.",
    "You can also look at how the {noun} {verb} a {adj} {noun2}.",
    "Over the years, the {noun2} has become more {adj} because of the {noun}.",
    "A {adj} {noun} can make a big difference for any {noun2}.",
    "There are several reasons why the {noun} {adv} {verb} the {noun2}.",
    "First, the {noun} {verb} the {adj} {noun2} and {verb2} the {noun3}.",
    "Finally, it is worth noting that the {noun} {verb} each {noun2} in a {adj} way.",
    "For example, a {noun} in a {adj} {noun2} {adv} {verb} the local {noun3}.",
    "In addition, people who study the {noun} say it {verb} the {noun2} {adv}.",
    "However, the {adj} {noun} does not always {verb_base} the {noun2} as expected.",
    "Overall, the {noun} and the {noun2} {adv} work together to create a {adj} {noun3}.",
]

WORLD_OPENERS = [
    "What are the main benefits of {topic} for a {adj} {noun}?",
    "How does {topic} affect the {noun} in a {adj} {noun2}?",
    "Can you explain the history of {topic} and why it matters today?",
    "What are some common misconceptions about {topic}?",
    "Why is {topic} considered so {adj} by many people?",
    "How has {topic} changed over the last hundred years?",
]
WRITING_FORMS = ["poem", "short story", "blog post", "speech", "product description", "letter",
                 "news article", "screenplay scene", "song", "essay", "email", "review",
                 "advertisement", "biography", "diary entry", "dialogue", "fable", "report",
                 "social media post", "cover letter"]
WRITING_OPENERS = [
    "Write a {form} about {topic}.",
    "Write a {adj} {form} about {topic} for a {noun} audience.",
    "Compose a {form} that explores {topic} from the point of view of a {noun}.",
    "Draft a {form} on {topic} in a {adj} tone.",
]
WRITING_DETAILS = [
    " Make sure to include at least three {adj} details about the {noun}.",
    " The piece should be around 500 words and use vivid language.",
    " Use a clear structure with an introduction, a body and a conclusion.",
    " Include a memorable title and end with a {adj} message about the {noun}.",
]
ASSISTANCE_TEMPLATES = [
    "Given the text: {material}\n{instruction}",
    "Read the passage below and answer the question or follow the instruction: {instruction}\n\n"
    "Passage: {material}",
    "{material}\n\nBased on the passage above, {instruction_lower}",
    "Here is a piece of text: {material}\n\nPlease answer this question based on the text: "
    "{instruction}",
    "Generate according to: {material}\n\n{instruction}",
]
ASSISTANCE_INSTRUCTIONS = [
    "Summarize the main points of the text in a few sentences.",
    "What is the author's opinion about the {noun}?",
    "Can you rewrite the passage in a more {adj} style?",
    "Continue the story from where the text ends.",
    "What does the text say about the {noun} and the {noun2}?",
    "Translate the second sentence into simpler English.",
]
FOLLOW_UPS = [
    "That's interesting. Can you tell me more about the {noun}?",
    "Thanks. How does this relate to the {adj} {noun}?",
    "Could you give me a specific example of that?",
    "What would you recommend for someone who is new to {topic}?",
    "Can you make it a bit more {adj} and add a few details about the {noun}?",
    "I see. Are there any risks or downsides I should know about?",
    "Great, could you shorten it and focus on the {noun}?",
]

SELF_DISCLAIMERS = [
    "As an AI language model, I do not have personal opinions, but I can share some information.",
    "I do not have emotions, but I can explain what many people feel about this.",
    "As an AI, I do not have personal experiences, however here is what is generally known.",
]
POLITE_CLOSINGS = [
    ("Thank you so much for your help!", "You're welcome! Let me know if you have any other questions."),
    ("Thanks, that was really helpful.", "You're welcome! I'm glad I could help."),
    ("Thank you!", "You're welcome, happy to help!"),
]
BENCHMARK_PROMPTS = [
    "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural "
    "experiences and must-see attractions.",
    "How can I improve my time management skills?",
    "What are the most effective ways to deal with stress?",
    "Draft a professional email seeking your supervisor's feedback on the quarterly financial "
    "report you prepared.",
]

FOREIGN_SENTENCES = {
    "fr": [
        "Je pense que cette question est très importante pour notre société.",
        "Les enfants jouent dans le jardin pendant que leurs parents préparent le dîner.",
        "Il est souvent difficile de trouver un équilibre entre le travail et la vie privée.",
        "Nous avons visité le musée de la ville et nous avons appris beaucoup de choses.",
        "La cuisine française est connue dans le monde entier pour sa richesse et sa variété.",
        "Pouvez-vous m'expliquer pourquoi les saisons changent au cours de l'année ?",
        "Les chercheurs ont découvert que le sommeil joue un rôle essentiel dans la mémoire.",
        "Cette méthode permet de réduire les coûts tout en améliorant la qualité du produit.",
    ],
    "de": [
        "Ich glaube, dass diese Frage für unsere Gesellschaft sehr wichtig ist.",
        "Die Kinder spielen im Garten, während ihre Eltern das Abendessen vorbereiten.",
        "Es ist oft schwierig, ein Gleichgewicht zwischen Arbeit und Freizeit zu finden.",
        "Wir haben das Museum der Stadt besucht und dabei sehr viel gelernt.",
        "Können Sie mir erklären, warum sich die Jahreszeiten im Laufe des Jahres ändern?",
        "Die Forscher haben herausgefunden, dass der Schlaf eine wichtige Rolle für das Gedächtnis spielt.",
        "Diese Methode senkt die Kosten und verbessert gleichzeitig die Qualität des Produkts.",
        "Außerdem sollte man nicht vergessen, dass jeder Mensch seine eigenen Erfahrungen macht.",
    ],
    "es": [
        "Creo que esta pregunta es muy importante para nuestra sociedad.",
        "Los niños juegan en el jardín mientras sus padres preparan la cena.",
        "A menudo es difícil encontrar un equilibrio entre el trabajo y la vida personal.",
        "Visitamos el museo de la ciudad y aprendimos muchas cosas nuevas.",
        "¿Puede explicarme por qué cambian las estaciones a lo largo del año?",
        "Los investigadores descubrieron que el sueño tiene un papel esencial en la memoria.",
        "Este método permite reducir los costos y mejorar la calidad del producto.",
        "Además, no hay que olvidar que cada persona tiene sus propias experiencias.",
    ],
    "zh": [
        "我认为这个问题对我们的社会非常重要。",
        "孩子们在花园里玩耍，父母在厨房里准备晚饭。",
        "在工作和生活之间找到平衡常常是很困难的。",
        "我们参观了城市博物馆，学到了很多新的知识。",
        "你能解释一下为什么一年中季节会发生变化吗？",
        "研究人员发现，睡眠对记忆起着至关重要的作用。",
        "这种方法可以降低成本，同时提高产品的质量。",
        "此外，我们不应该忘记每个人都有自己的经历。",
    ],
    "ru": [
        "Я думаю, что этот вопрос очень важен для нашего общества.",
        "Дети играют в саду, пока их родители готовят ужин.",
        "Часто бывает трудно найти баланс между работой и личной жизнью.",
        "Мы посетили городской музей и узнали много нового.",
        "Можете ли вы объяснить, почему в течение года меняются времена года?",
        "Исследователи обнаружили, что сон играет важную роль в работе памяти.",
        "Этот метод позволяет снизить затраты и одновременно улучшить качество продукта.",
        "Кроме того, не стоит забывать, что у каждого человека есть свой опыт.",
    ],
}

# ---- The shapes of real UltraChat text (calibrated with ../shared/real-sample/measure.py; our
# own phrases, no row of the sample). -------------------------------------------------------------

# Ordinary typography, as ~11% of real turns carry it: curly quotes and apostrophes, dashes,
# degrees, accents, pounds, trade marks.
TYPOGRAPHY_SENTENCES = [
    "It’s a detail that many {noun}s overlook.",
    "That’s why the {noun} doesn’t always {verb_base} the {noun2}.",
    "You’ll find that the {noun} won’t {verb_base} the {noun2} on its own.",
    "The {noun}’s role is what people remember, and it’s {adj}.",
    "We’re told the {noun} can’t {verb_base} the {noun2} – not at first.",
    "Some call it the “{adj} {noun}” and that’s fair.",
    "The {noun} – as most guides note – {verb} the {noun2}.",
    "Some call it the “{adj} {noun}” of the {noun2}.",
    "Bake it at 180°C (350°F) for about 25 minutes.",
    "The old café on the corner {verb} the {noun} every weekend.",
    "Tickets cost £12 for adults and £6 for children.",
    "The Nordlys™ range {verb} the {noun} better than most.",
    "José and Zoë wrote about the {noun} in their last report.",
    "Don’t forget that the {noun} isn’t the same as the {noun2}.",
    "The résumé should mention the {noun} — briefly.",
    "Temperatures drop to −5°C in the {adj} season.",
    "A piñata and a jalapeño salsa {verb} any {noun}.",
    "The ‘{adj}’ label is what people remember.",
    "Its naïve design {adv} {verb} the {noun}.",
    "The {noun} in São Paulo {verb} the {noun2} each year.",
]
# Text that must stay as written: names and titles ending in ! or ?, abbreviations, quotations.
CASING_TRAPS = [
    "Fans of the Zap! figures from {topic} collect every {noun}.",
    "The BOOM! website {verb} the {noun} with weekly posts.",
    "Add 1 tsp. salt and 2 oz. cheese to the {noun}.",
    "The office on 5th Ave. {verb} the {noun} from Sept. through Nov. each year.",
    "Ask the Dept. of {topic} about the {noun}.",
    "The sign read \"closed today. the staff are away\" for a week.",
    "Prof. Lane says the {noun} {verb} the {noun2}.",
]
CAPABILITY_DISCLAIMERS = [
    "I do not have access to real-time information about {topic}, but here is what is generally known.",
    "I don't have access to real-time prices for the {noun}. However, the following usually holds.",
    "I do not have access to the internet, but I can explain how the {noun} works.",
]
AI_IDENTITY_OPENERS = ["As an AI language model, I cannot visit the {noun}, but I can describe it."]
LIST_INTROS = [
    "Here are some {adj} ways to think about {topic}:",
    "There are several {adj} points to consider:",
    "Sure! Here are a few ideas about the {noun}:",
    "The main steps are as follows:",
]
LIST_ITEMS = [
    "{Adj} {noun}: The {noun} {verb} the {noun2} in a {adj} way.",
    "Focus on the {noun}. It {adv} {verb} the {adj} {noun2}.",
    "Plan the {noun} - a {adj} {noun2} {verb} the result.",
    "Use a {adj} {noun} to support the {noun2}.",
]
LIST_OUTROS = [
    "Overall, these {adj} steps {verb} the {noun}.",
    "By following these tips, you can improve the {noun} over time.",
]
HEADINGS = ["## {Adj} {noun}", "### The {noun} and the {noun2}", "## Why {topic} matters"]
RECIPE_INTROS = ["Here is a simple recipe for a {adj} {dish} that you can make at home.",
                 "Sure! This {dish} is easy to make and tastes great."]
DISHES = ["lentil soup", "banana bread", "vegetable curry", "tomato pasta", "apple crumble",
          "chicken stew", "rice salad", "corn muffins"]
INGREDIENTS = ["2 cups flour", "1 tsp. salt", "1 tbsp. olive oil", "3 oz. cheddar cheese",
               "1 lb. ground beef", "2 cloves garlic, minced", "1 cup milk", "2 large eggs",
               "1/2 cup sugar", "1 onion, chopped", "1 can diced tomatoes", "1 tsp. baking soda"]
RECIPE_STEPS = ["Preheat the oven to 350°F.", "Mix the dry ingredients in a large bowl.",
                "Add the wet ingredients and stir until smooth.", "Cook for 10 minutes over medium heat.",
                "Pour the mixture into a greased pan.", "Let it cool for 5 minutes before serving."]
CODE_SNIPPETS = [
    "```python\ndef total(items):\n    result = 0\n    for item in items:\n        result += item.price\n"
    "    return result\n```",
    "```javascript\nconst names = users.map(user => user.name);\nconsole.log(names.join(\", \"));\n```",
    "```sql\nSELECT name, COUNT(*) AS orders\nFROM customers\nGROUP BY name\nORDER BY orders DESC;\n```",
]
# The release's own prompt templates, typos included ("quesion").
MATERIAL_QUESTIONS = [
    "Read the passage below and answer the quesion or follow the instruction: {instruction}\n{material}",
    "{material}\nBased on the passage above, {instruction_lower}",
    "Given the text: {material}\n{instruction}",
    "Generate according to: {material}",
    "Here is a piece of text: {material}\n\nPlease {instruction_lower}",
]
SHORT_ANSWERS = ["Yes, that is right.", "It depends on the {noun}, but usually yes.",
                 "The {noun} {verb} the {noun2}.", "No, the {noun} is not required."]
# Sentences whose non-ASCII characters are all two bytes in UTF-8, as cp1256 mojibake takes them.
LATIN1_SENTENCES = ["The Vortex® keyboard costs £40.", "Serve the soufflé at 60°C.",
                    "The Aurora© logo is on every box.", "Rated ±2° by the maker."]
