"""Real SIP peers for the tests (SIPp carrier/registrar/seat scenarios, RTP pcaps, baresip): the helpers
live in hotline/sipp.py, which `hotline bench sip` uses too."""
from hotline.sipp import *  # noqa: F401,F403
from hotline.sipp import (BARESIP, SIPP, Baresip, RtpStream, Sipp, alaw, carrier_uac, free_even_port,  # noqa: F401
                          free_port, line_noise, read_wav_8k, refused_uac, registered_contact, registrar_uas,
                          seat_uas, stat_last, tone, wait_until)
