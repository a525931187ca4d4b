"""The dialplan contract: every name the generated dialplan (dialplan/) and the
controller share.

Channel variables, context names, UserEvent names (and their headers' meaning,
see `pbx.events`), FastAGI script names. The dialplan generator and the
controller import these names; neither spells them itself. `pbx` never imports
`dialplan`: this module is the one place both sides meet.
"""

# Set by the controller before it returns from the FastAGI session: where
# the dialplan goes next ("hangup", or "context,exten,priority"). Empty means
# the controller did not finish the call: the dialplan sends it to the fallback.
NEXT = "HOTLINE_NEXT"
# Why the call went to the fallback (set by the FastAGI server on a handler
# error, a drain timeout; by the dialplan when the AGI could not connect).
FALLBACK_REASON = "HOTLINE_FALLBACK_REASON"
# Marks a channel that went through the fallback context.
FALLBACK_MARK = "HOTLINE_FALLBACK"
# The number the caller dialled (DID), kept from the entry context.
DID = "HOTLINE_DID"
# Set by the trunk's PJSIP endpoint (set_var, dialplan/trunks.py) on every call it brings in:
# the trunk's name and the area code local caller numbers from it lack.
TRUNK = "HOTLINE_TRUNK"
AREA = "HOTLINE_AREA"
# Call id shared by controller, Redis records, recordings and tickets.
CALL_ID = "HOTLINE_CALL_ID"
# IVR tree version pinned for this call.
TREE_VERSION = "HOTLINE_TREE_VERSION"
# Lane the call waits in, once queued.
LANE = "HOTLINE_LANE"
# Transfers (hotline-conf context): the call's conference, the transfer id, the leg's role.
CONF = "HOTLINE_CONF"
TRANSFER = "HOTLINE_XFER"
CONF_ROLE = "HOTLINE_ROLE"
# Supervision (hotline-spy context): the seat channel spied on and the ChanSpy options.
SPY_TARGET = "HOTLINE_SPY_TARGET"
SPY_OPTIONS = "HOTLINE_SPY_OPTIONS"

# Calls out from a seat phone (hotline-seat-out): the number the dialling policy returned
# (digits only; empty: refused), set by the controller's seat-out handler.
OUT_NUM = "HOTLINE_OUT_NUM"

# Simulated caller (tests and `hotline call`): what the caller side does.
SIM_ID = "SIM_ID"
SIM_KEYS = "SIM_KEYS"
SIM_WAIT = "SIM_WAIT"
SIM_WAV = "SIM_WAV"
SIM_HOLD = "SIM_HOLD"

# Callbacks (hotline-callback context, set on the Originate of the seat's leg): the citizen's
# number (checked by the dialling policy), the recording base, the call and the seat.
CB_NUM = "CB_NUM"
CB_REC = "CB_REC"
CB_CALL_ID = "CB_CALL_ID"
CB_SEAT = "CB_SEAT"

# Satisfaction callbacks (hotline-revisit context, set on the Originate of the citizen's leg): the
# revisit task (the ticket id) the call is about.
REVISIT_TASK = "HOTLINE_REVISIT"

# Asterisk's own variables the controller reads or clears.
DIALSTATUS = "DIALSTATUS"            # how a Dial ended: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL, ...
QUEUESTATUS = "QUEUESTATUS"          # how a Queue ended: TIMEOUT, FULL, JOINEMPTY, ...
HANGUPCAUSE = "HANGUPCAUSE"
DIAL_ANSWERED = "ANSWER"             # the DIALSTATUS of an answered Dial
CALLBACK_REFUSED = "REFUSED"         # HotlineCallbackResult's Status when the number was refused

# --- contexts --------------------------------------------------------------

ENTRY = "from-pstn"                  # every call from the network (the trunks' PJSIP context too)
IVR = "hotline-ivr"
FALLBACK = "hotline-fallback"
FALLBACK_QUEUE = "hotline-fallback"  # the fallback's Queue (queues.conf), named like its context
SIM_CALLER = "hotline-sim-caller"
DEMO_SEAT = "hotline-demo-seat"
EXTERNAL = "hotline-external"
ON_ANSWER = "hotline-on-answer"
CALLBACK = "hotline-callback"
REVISIT = "hotline-revisit"          # the citizen answered a revisit call: the revisit tree (AGI_REVISIT)
LIVE_SPY = "hotline-live-spy"
# ...its variables: the spied channel, the stream's key (EAGI: read by the script; AudioSocket: the
# stream's UUID), the EAGI arguments, or the AudioSocket listener (host:port)
LIVE_SPY_TARGET = "LIVE_SPY_TARGET"
LIVE_AUDIO_KEY = "LIVE_AUDIO_KEY"
LIVE_EAGI_ARGS = "LIVE_EAGI_ARGS"
LIVE_AUDIO_SERVICE = "LIVE_AUDIO_SERVICE"
CONFERENCE = "hotline-conf"
SPY = "hotline-spy"
OUT = "hotline-out"
SEAT_OUT = "hotline-seat-out"        # seat phones' context (dialplan/seats.py renders their endpoints with it)
REFER = "hotline-refer"              # where a seat's REFER (blind transfer) sends the caller (TRANSFER_CONTEXT)

# Roles of the legs in a transfer's conference (CONF_ROLE; HotlineConfLeft's Role), also the
# CONFERENCE extensions each leg enters by.
ROLE_SEAT = "seat"
ROLE_EXTERNAL = "external"

# --- FastAGI scripts (agi://host:port/<name>) -------------------------------

AGI_IVR = "ivr"
AGI_SEAT_OUT = "seat-out"            # checks a seat's external number against the dialling policy
AGI_REFER = "refer"                  # carries a seat's blind transfer out
AGI_REVISIT = "revisit"              # runs the revisit tree on an answered satisfaction callback

# --- UserEvents (UserEvent(Name,Header: value,...) in the dialplan) ----------

UE_ANSWERED = "HotlineAnswered"                # CallId, Seat[, Rec]; on the seat's channel
UE_CALLBACK_RESULT = "HotlineCallbackResult"   # CallId, Seat, Status (DIALSTATUS or REFUSED)
UE_TRANSFER_JOINED = "HotlineTransferJoined"   # CallId, Transfer; the target joined the conference
UE_CONF_LEFT = "HotlineConfLeft"               # CallId, Transfer, Role, Conference
UE_FALLBACK = "HotlineFallback"                # Reason, Uniqueid
UE_MISSED = "HotlineMissed"                    # Reason (queue_<QUEUESTATUS>), Uniqueid
UE_EXTERNAL = "HotlineExternal"                # Number; the stand-in for external numbers answered
UE_OUT_TRY = "HotlineOutTry"                   # Trunk, Status, Uniqueid; one trunk tried for a call out
UE_OUT_REFUSED = "HotlineOutRefused"           # Uniqueid; the dialling policy refused the number



def seat_interface(seat_id: str, demo: bool) -> str:
    """What the controller dials for a seat (a demo seat: a Local channel into DEMO_SEAT)."""
    return f"Local/{seat_id}@{DEMO_SEAT}/n" if demo else f"PJSIP/{seat_id}"


# --- transfers: what a caller's session runs (agents/transfer_service.py) ---

CONF_BRIDGE_PROFILE = "hotline_bridge"      # asterisk-conf/confbridge.conf
CONF_PARTY_PROFILE = "hotline_party"        # the operator and the transfer target (marked)
CONF_CALLER_PROFILE = "hotline_caller"      # the caller: let go when the last marked member leaves


def conference_join(conference: str) -> tuple[str, ...]:
    """The application and arguments a caller's session runs to join its transfer conference."""
    return ("ConfBridge", conference, CONF_BRIDGE_PROFILE, CONF_CALLER_PROFILE)


def external_dial(dial: str, ring_s: int) -> tuple[str, ...]:
    """A caller's session dialling a transfer target (blind); back to the session when it ends (g)."""
    return ("Dial", dial, str(int(ring_s)), "g")
