"""Contains all the data models used in inputs/outputs"""

from .assistant_message import AssistantMessage
from .assistant_role import AssistantRole
from .chat_text_chunk import ChatTextChunk
from .chat_text_request import ChatTextRequest
from .chat_text_response import ChatTextResponse
from .choice import Choice
from .chunk_choice import ChunkChoice
from .chunk_delta import ChunkDelta
from .error_detail import ErrorDetail
from .error_response import ErrorResponse
from .finish_reason import FinishReason
from .message import Message
from .role import Role
from .usage import Usage

__all__ = (
    "AssistantMessage",
    "AssistantRole",
    "ChatTextChunk",
    "ChatTextRequest",
    "ChatTextResponse",
    "Choice",
    "ChunkChoice",
    "ChunkDelta",
    "ErrorDetail",
    "ErrorResponse",
    "FinishReason",
    "Message",
    "Role",
    "Usage",
)
