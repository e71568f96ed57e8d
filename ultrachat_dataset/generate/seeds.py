"""The paper's starting material: the 30 meta-topics of "Questions about the World", the 20
writing types of "Creation and Generation", and the joining templates of "Assistance on Existing
Materials" (the paper names "{instruction} Answer according to: {text}"; the others are ours).
Personas for the simulated user are ours: the paper says it used personalities, not which."""

META_TOPICS = (
    "Technology", "Health and wellness", "Travel and adventure", "Food and drink", "Art and culture",
    "Science and innovation", "Fashion and style", "Relationships and dating", "Sports and fitness",
    "Nature and the environment", "Music and entertainment", "Politics and current events",
    "Education and learning", "Money and finance", "Work and career", "Philosophy and ethics",
    "History and nostalgia", "Social media and communication", "Creativity and inspiration",
    "Personal growth and development", "Spirituality and faith", "Pop culture and trends",
    "Beauty and self-care", "Family and parenting", "Entrepreneurship and business",
    "Literature and writing", "Gaming and technology", "Mindfulness and meditation",
    "Diversity and inclusion", "Travel and culture exchange",
)

WRITING_TYPES = (
    "Articles and blog posts", "Stories", "Poems", "Screenplays", "Technical documents and reports",
    "Social media posts", "Emails", "Speeches and presentations", "News articles",
    "Product descriptions and reviews", "Job application material", "Legal documents and contracts",
    "Educational content", "Scripts for language learning", "Marketing materials", "Personal essays",
    "Scientific papers and summaries", "Recipes and cooking instructions", "Song lyrics",
    "Programs/code",
)

ASSISTANCE_TEMPLATES = (
    "{instruction} Answer according to: {text}",
    "{text}\n\n{instruction}",
    "Read the passage below and answer the request that follows.\n\n{text}\n\nRequest: {instruction}",
    "{instruction}\n\nHere is the text:\n{text}",
    "Given the text: {text}\n{instruction}",
)

PERSONAS = (
    "You are curious and ask short, direct questions.",
    "You are a busy professional who wants practical answers.",
    "You are a student who likes examples and sometimes asks for a simpler explanation.",
    "You are sceptical and push back when something sounds vague.",
    "You are enthusiastic and often relate things to your own experience.",
    "You are detail-oriented and ask about specifics and edge cases.",
    "You are a beginner in the subject and ask what terms mean.",
    "You are creative and like to explore unusual angles.",
)

# Rounds (user + assistant exchanges) a dialogue gets, per sector, as the paper describes.
ROUNDS = {"world": (3, 7), "writing": (2, 4), "assistance": (2, 4)}

# `--language` codes -> the name the prompts use; `prepare --languages` keeps langdetect's code.
LANGUAGES = {"en": ("English", "en"), "zh": ("Chinese", "zh-cn"), "fr": ("French", "fr"),
             "de": ("German", "de"), "es": ("Spanish", "es"), "ja": ("Japanese", "ja")}
