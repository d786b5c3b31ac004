"""ghostscore: scores articles for likely machine generation, with the evidence.

    from ghostscore import Detector
    detector = Detector.load()
    score = detector.score(text)
    score.ai_probability, score.verdict, score.top_evidence()
"""

from .detector import Detector
from .document import Document
from .errors import InputError, ModelError
from .results import Evidence, Score

__version__ = "0.1.0"
__all__ = ["Detector", "Document", "Evidence", "InputError", "ModelError", "Score", "__version__"]
