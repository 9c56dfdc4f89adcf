"""Every request and answer of the API as a pydantic model: /docs is the contract."""
from typing import Dict, List, Optional

from pydantic import BaseModel, Field

from musiczoo.controls import Controls


class ControlFields(BaseModel):
    """The musical controls (musiczoo.controls); unset fields leave the music free."""
    key: Optional[str] = Field(None, examples=["D minor"], max_length=40)
    scale: Optional[str] = Field(None, max_length=40)
    pitch_set: Optional[str] = Field(None, examples=["A,B,C#,F#,G"], max_length=80)
    pitch_range: Optional[str] = Field(None, examples=["55:79"], max_length=20)
    bars: Optional[int] = Field(None, ge=1)
    time_signature: Optional[str] = Field(None, examples=["3/4"], max_length=8)
    qpm: Optional[float] = Field(None, ge=20, le=400)
    density: Optional[str] = Field(None, examples=["low"], max_length=12)
    instrument: Optional[str] = Field(None, examples=["flute"], max_length=60)
    drums: Optional[str] = Field(None, examples=["kick,snare,closed_hihat"], max_length=120)
    end_on_tonic: Optional[bool] = None
    attribute: Optional[str] = Field(None, examples=["density:+1.5"], max_length=80)
    style: Optional[str] = Field(None, examples=["bossa_nova"], max_length=40)
    instruments: Optional[str] = Field(None, examples=["piano,bass,drums"], max_length=200)

    def settings(self):
        """The control fields given (not the request's other fields), as Controls.parse
        keywords."""
        return {name: getattr(self, name) for name in ControlFields.model_fields
                if getattr(self, name) is not None}

    def controls(self):
        settings = self.settings()
        return Controls.parse(**settings) if settings else None


class GenerateRequest(ControlFields):
    bundle: str = Field("lookback_rnn", max_length=80)
    num_outputs: int = Field(2, ge=1)
    seed: Optional[int] = Field(None, ge=0, lt=2 ** 31)
    temperature: float = Field(1.0, gt=0, le=5)
    top_k: int = Field(0, ge=0, le=512)


class ComposeRequest(ControlFields):
    prompt: str = Field("", max_length=500,
                        examples=["calm folk melody in D minor, 80 bpm, 16 bars, 3 variations"])
    variations: Optional[int] = Field(None, ge=1)
    seed: Optional[int] = Field(None, ge=0, lt=2 ** 31)
    bundle: Optional[str] = Field(None, max_length=80)
    temperature: Optional[float] = Field(None, gt=0, le=5)


class VaryRequest(BaseModel):
    result_id: str = Field(..., max_length=32)
    index: int = Field(..., ge=0)
    variations: int = Field(2, ge=1)
    amount: float = Field(0.3, gt=0, le=3)
    seed: Optional[int] = Field(None, ge=0, lt=2 ** 31)


class Item(BaseModel):
    index: int
    midi: str
    wav: Optional[str] = None
    roll: Optional[str] = None
    seconds: float
    notes: int
    seed: Optional[int] = None
    compliance: Dict[str, bool] = {}
    scores: Optional[dict] = None


class Result(BaseModel):
    id: str
    kind: str
    bundle: str
    expires: float
    summary: str = ""
    controls: dict = {}
    synth: Optional[str] = None
    items: List[Item]


class BundleInfo(BaseModel):
    name: str
    family: str
    config: str
    description: str = ""
    training_data: str = ""
    capabilities: List[str]
    controls: List[str]


class Problem(BaseModel):
    detail: str
