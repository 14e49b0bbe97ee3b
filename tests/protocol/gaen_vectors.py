"""Google's published Exposure Notification (GAEN) crypto test vectors (v1.2).

Source: GitHub repository ``google/exposure-notifications-internals``, file
``app/src/androidTest/java/com/google/samples/exposurenotification/testing/TestVectors.java``
at commit ``a0394e69c51aa118f5000b8a2c2f15f1f9aedb7d``
(the Java port of the C++ header ``TestVectors.h.txt``).

Every value below is copied verbatim from that file; the Java ``asBytes(0x.., ...)``
byte arrays were transcribed byte-for-byte, in order, into hex strings. Nothing here
was computed by this project's code.

How the vectors are used (from RollingProximityIdGeneratorTest.java and
AssociatedEncryptedMetadataGeneratorTest.java in the same repository):

* ``RPIK == HKDF-SHA256(TEK, salt=None, info=b"EN-RPIK", length=16)``
* ``AEMK == HKDF-SHA256(TEK, salt=None, info=b"EN-AEMK", length=16)``
* ``RPIS[j] == AES-128-ECB(RPIK, b"EN-RPI" + 6 zero bytes + uint32_le(ENIN + j))``
  for ``j`` in ``0..143`` (the test starts at ``CTINTERVAL_NUMBER_OF_GENERATED_KEY``
  and increments the interval number once per ``ADVERTISED_DATA`` element).
* ``AEMS[j] == AES-128-CTR(AEMK, iv=RPIS[j])`` applied to ``METADATA``.

The sample-export public key (``SAMPLE_EXPORT_PUBLIC_KEY_B64``) is copied from
``exposurenotification/src/main/java/com/google/samples/exposurenotification/features/ContactTracingFeature.java``
(commit ``413b561f59cd4a63b571cac83821959e6e022ce8``) in the same repository.
"""

from __future__ import annotations

# --- Integer constants ("From TestVectors.h.txt" block) -----------------------

# Java: KEY_GENERATION_NSECONDS (despite the name, a Unix time in seconds:
# 2020-04-02T00:00:00Z).
KEY_GENERATION_SECONDS: int = 1585785600

# Java: CTINTERVAL_NUMBER_OF_GENERATED_KEY -- the EN interval number (ENIN) at which
# the key starts; RPIS[j] / AEMS[j] belong to interval ENIN + j.
ENIN: int = 2642976
CTINTERVAL_NUMBER_OF_GENERATED_KEY: int = ENIN

# Java: ID_ROLLING_PERIOD_MINUTES
ID_ROLLING_PERIOD_MINUTES: int = 10

# Java: KEY_ROLLING_PERIOD_MULTIPLE_OF_ID_PERIOD
KEY_ROLLING_PERIOD_MULTIPLE_OF_ID_PERIOD: int = 144

# --- String constants (Java getters) ------------------------------------------

# Java: get_RPIK_HKDF_INFO_STRING() -> "EN-RPIK"
RPIK_HKDF_INFO: bytes = b"EN-RPIK"

# Java: get_RPI_AES_PADDED_STRING() -> "EN-RPI"
RPI_AES_PADDED: bytes = b"EN-RPI"

# Java: get_AEMK_HKDF_INFO_STRING() -> "EN-AEMK"
AEMK_HKDF_INFO: bytes = b"EN-AEMK"

# --- Key material ---------------------------------------------------------------

# Java: TEMPORARY_TRACING_KEY (the Temporary Exposure Key)
TEK: bytes = bytes.fromhex("75c734c6dd1a782de7a965da5eb93125")

# Java: RPIK (Rolling Proximity Identifier Key)
RPIK: bytes = bytes.fromhex("185ad91db69ec7dd048960f1f3ba6175")

# Java: AEMK (Associated Encrypted Metadata Key)
AEMK: bytes = bytes.fromhex("d57c46af7a1d83965b9bed8bd152936a")

# Java: BLE_METADATA (4 bytes of plaintext BLE metadata encrypted into each AEM)
METADATA: bytes = bytes.fromhex("40080000")

# --- Advertised data (Java: ADVERTISED_DATA, pairs of RPI<i>, AEM<i>) ----------

# Java: RPI0 .. RPI143 (Rolling Proximity Identifiers, in ADVERTISED_DATA order)
RPIS: tuple[bytes, ...] = (
    bytes.fromhex("8be6cd371c5c891604bfbe49df845096"),  # RPI0
    bytes.fromhex("3c9a1de5dd6b02afa7fded7b570b3e56"),  # RPI1
    bytes.fromhex("243ffe9a3b08bded3094bac8630bb8ad"),  # RPI2
    bytes.fromhex("dfc3ed265e97d0eabb630e168b4214ed"),  # RPI3
    bytes.fromhex("b3b85a69ebaec78db739852d1f34e0fa"),  # RPI4
    bytes.fromhex("298abd6fdad29efbf0f85a63956cf188"),  # RPI5
    bytes.fromhex("105e8221dd603d25b94aba0c3cc8dee1"),  # RPI6
    bytes.fromhex("9888ca7e6738ec4bc6e420b20f878b3a"),  # RPI7
    bytes.fromhex("8694a79ae99671be3f18aaf6b090657a"),  # RPI8
    bytes.fromhex("b8cde28ad20d1cd2fdd7369dc0c6f7c8"),  # RPI9
    bytes.fromhex("f60123c67bd2fc4b62002b4b7d595ba6"),  # RPI10
    bytes.fromhex("8a84c86e05f7a8772aae7a80686e1a1c"),  # RPI11
    bytes.fromhex("ac461bf2b93b0d90841746f51aded6c0"),  # RPI12
    bytes.fromhex("f2567eed0aa1cdf2cd3d0bd28252f196"),  # RPI13
    bytes.fromhex("a255225baa9e37b730a95f997a6972f5"),  # RPI14
    bytes.fromhex("04cfaee41021cb7d4d020b306b24bea8"),  # RPI15
    bytes.fromhex("f5372bbc92f7805964701e879b48d431"),  # RPI16
    bytes.fromhex("f2c811546382b10df1ac06c32c617ba7"),  # RPI17
    bytes.fromhex("f8f3441f76223dac15ec6b35fdb25140"),  # RPI18
    bytes.fromhex("d07183db3c8045087d61ee9e730c9306"),  # RPI19
    bytes.fromhex("c742dd9c96a3e6fa7c4f22621dacc24d"),  # RPI20
    bytes.fromhex("082333fad9fa292ab899d6000c659797"),  # RPI21
    bytes.fromhex("be4300dafb8d07c88cb2b5077a061166"),  # RPI22
    bytes.fromhex("5fed1b4d3b3a13332f05447560352632"),  # RPI23
    bytes.fromhex("fd1ee2cc5c60e6eee61f04919f6759a7"),  # RPI24
    bytes.fromhex("96adf5b8dc7ee75df46fbd8a1fc4ad0d"),  # RPI25
    bytes.fromhex("fa4ba2206d42a1c80d5248ae688309a4"),  # RPI26
    bytes.fromhex("a590f95dbf240261da101a7cdb24dbba"),  # RPI27
    bytes.fromhex("67e81b91d1cf9e0958135429dad01e82"),  # RPI28
    bytes.fromhex("183cac2236c3e0533be4704d836e4755"),  # RPI29
    bytes.fromhex("341162551c29319bc53538edfcf23040"),  # RPI30
    bytes.fromhex("2251687018214b65dd8ee83eaed330ab"),  # RPI31
    bytes.fromhex("a4cf6e50215fe278cc5cff1b0534a3e0"),  # RPI32
    bytes.fromhex("df8f2ac303232b2e5b3efd8681aaa8dd"),  # RPI33
    bytes.fromhex("ba2e75d7f48cf55c0c868fd45cf16b5c"),  # RPI34
    bytes.fromhex("ec6a40058debffff3c51977f24562e21"),  # RPI35
    bytes.fromhex("6a68e30b2fb93b5df78ee3a9a350a6ce"),  # RPI36
    bytes.fromhex("8d33a70562629994f8df99052b0eb69a"),  # RPI37
    bytes.fromhex("21053ccb8f925111e254bd694e97946b"),  # RPI38
    bytes.fromhex("e1c9cdf20f900ae6d24bf7bcb4e66135"),  # RPI39
    bytes.fromhex("baf789f550946b431064450771b2a143"),  # RPI40
    bytes.fromhex("f7f91ec25085d0353e0278e598cc6201"),  # RPI41
    bytes.fromhex("c8933d70220ba9c8c148393a3959d256"),  # RPI42
    bytes.fromhex("f2932e6e6ef60f0f5bbce439100a90e4"),  # RPI43
    bytes.fromhex("18f5d8102a5930d80230f2c39a4266d6"),  # RPI44
    bytes.fromhex("e6075c28939fb0c67246ce38c5ff938a"),  # RPI45
    bytes.fromhex("66168862bc445f48e5b0ed07e1df3f5a"),  # RPI46
    bytes.fromhex("1d0a01c38da4ac41ec7a638f5df705a9"),  # RPI47
    bytes.fromhex("a737001a2d2f802c64789a9952e6d1a7"),  # RPI48
    bytes.fromhex("7c3725b6084e681fb34d26c3a394a643"),  # RPI49
    bytes.fromhex("26d1f836557a259a81b5db5419c6a729"),  # RPI50
    bytes.fromhex("ebc2a6062854d1ec627b1f6e8432e166"),  # RPI51
    bytes.fromhex("113274e80c31cfcd81c2ad0864445178"),  # RPI52
    bytes.fromhex("4567976c48be725906247d0bd81bb811"),  # RPI53
    bytes.fromhex("748154ba523a1aa810b7062a13e5aa68"),  # RPI54
    bytes.fromhex("30bceb3345745153352365998587cd10"),  # RPI55
    bytes.fromhex("8f2d7b8700a82fd4514dfa4202ee298f"),  # RPI56
    bytes.fromhex("0e664953700cdfc0d2792fadf07329eb"),  # RPI57
    bytes.fromhex("f44958c4dd70d9968a26fd60ba927290"),  # RPI58
    bytes.fromhex("55fd2f6cbde0e13fd22c0b3db16228e5"),  # RPI59
    bytes.fromhex("49f3f9d12469dcc9ed356364c30066e4"),  # RPI60
    bytes.fromhex("c57d2d6e0d25a0651cd72786f8c951ce"),  # RPI61
    bytes.fromhex("88ef256351ac49dfd15ab5a2de97c013"),  # RPI62
    bytes.fromhex("d0fb6fd6db89da52361f1a30fb436ce7"),  # RPI63
    bytes.fromhex("8a42a330f01928e51631231981603fd5"),  # RPI64
    bytes.fromhex("6e51b2a2aecbab1df80826ef6d1e1958"),  # RPI65
    bytes.fromhex("3ce681a28b1be19c9e36b9c580b123ab"),  # RPI66
    bytes.fromhex("1e958ed89b86b98977f79e1b83f3d05f"),  # RPI67
    bytes.fromhex("1d667b01d6634b5f3b6f33ac4b150d23"),  # RPI68
    bytes.fromhex("67f222156c517debc07068cbc5eec1dd"),  # RPI69
    bytes.fromhex("a8454b9c947d1625ee3fba2607c23aff"),  # RPI70
    bytes.fromhex("416ffc7a32fcfda9a316d01790e31945"),  # RPI71
    bytes.fromhex("c19a30c39c9c3a089bcadde1c6699447"),  # RPI72
    bytes.fromhex("786ddfae6fc77c4c410c4ec32d34247d"),  # RPI73
    bytes.fromhex("ef0fd3a95b9661e1fccb4e30cde32c51"),  # RPI74
    bytes.fromhex("fc1f8a66f405ccb63dc3e48207da7788"),  # RPI75
    bytes.fromhex("0eacc28631b10f4498368666130ff0c9"),  # RPI76
    bytes.fromhex("e8db4a4626385ae6e3b2451d0a66edbf"),  # RPI77
    bytes.fromhex("c600678d4fbe9245ad4973b1c8971bc5"),  # RPI78
    bytes.fromhex("081926c361834c5c1d4319b840f315ae"),  # RPI79
    bytes.fromhex("1d829eafa04232a6bb4d3c2022ac3d0f"),  # RPI80
    bytes.fromhex("798abce8c8f62510de595a9973fb218e"),  # RPI81
    bytes.fromhex("61fc0deb47084fdaf1483e342d73b148"),  # RPI82
    bytes.fromhex("4969edd40f3eab468b8a8d49685a4edd"),  # RPI83
    bytes.fromhex("1d69d6d4158a318f1d9cafba13587017"),  # RPI84
    bytes.fromhex("ab7c61f1cca813fd36e8f1b1e5df6a0f"),  # RPI85
    bytes.fromhex("94f24fdec17aa31f74f202ae4a6874be"),  # RPI86
    bytes.fromhex("6e5de02579d3dfb194cc7bd49270253d"),  # RPI87
    bytes.fromhex("fe3e1e3621773f188040aa5db3ff1d4e"),  # RPI88
    bytes.fromhex("d7376e0d77255de23d540f027183f1ba"),  # RPI89
    bytes.fromhex("64a71e48a50e7b5a37ac91816e2b0f53"),  # RPI90
    bytes.fromhex("0f22a2c0b699e189d59e30d1745d67d3"),  # RPI91
    bytes.fromhex("de876baf31228e3b7fe0f08e1f38ea7b"),  # RPI92
    bytes.fromhex("8c6927bcf5f7aee1eed8abbe43e2e2d1"),  # RPI93
    bytes.fromhex("bc96830f182a72c89e65cea9c47d88c0"),  # RPI94
    bytes.fromhex("7b2fbe746dd2da86e9866a0e6aadbc4d"),  # RPI95
    bytes.fromhex("93e20f14a13d56567594aa962350f170"),  # RPI96
    bytes.fromhex("9e3814f951fa03796b9a66f89a9f400d"),  # RPI97
    bytes.fromhex("95fa09845aa8d4b60047faf99aebca0c"),  # RPI98
    bytes.fromhex("ef0a7579331853b9ebc250b4d6f3ebcc"),  # RPI99
    bytes.fromhex("7fe9a90de00c9f0737d3b45fda651115"),  # RPI100
    bytes.fromhex("443b7b5ab9a86a1fee67e18cb8c40764"),  # RPI101
    bytes.fromhex("e8a6fa9a5ca9fb061c4cdbe217c61d59"),  # RPI102
    bytes.fromhex("087a08040686fd635ef389752741cc1f"),  # RPI103
    bytes.fromhex("587c0486644ceb2d0b7ebdd39dd3a860"),  # RPI104
    bytes.fromhex("dd827ba60f8a35b1dd4e4cdfe49c4263"),  # RPI105
    bytes.fromhex("cf234000080a4e8da8feb533aa5904d3"),  # RPI106
    bytes.fromhex("c50fb1ec3ef54e916178ca9d56ee4f5c"),  # RPI107
    bytes.fromhex("d45fde46f467d76ed28dd4d2496dcb7f"),  # RPI108
    bytes.fromhex("e9baf81c961f510d08a663c7524f36df"),  # RPI109
    bytes.fromhex("e3b02cc031e144fae61a3899501b4921"),  # RPI110
    bytes.fromhex("a75eea58232e7366cea1a0e72da0cec5"),  # RPI111
    bytes.fromhex("6ad7621fe1da0139ff8bad7f379cabf6"),  # RPI112
    bytes.fromhex("6fe2ac45f65c8ac69fdc5ef7fa9ff7f0"),  # RPI113
    bytes.fromhex("2fbec68fd27ddddb4223044efc779851"),  # RPI114
    bytes.fromhex("32bf688a7c834be1bfab7c8e0e580adb"),  # RPI115
    bytes.fromhex("dae3a7d8c62427b09c0e7bbf489d34bd"),  # RPI116
    bytes.fromhex("3c4b02bd5ed28c67829c97791079afd2"),  # RPI117
    bytes.fromhex("e2faeac3dbd150ec8ea8e7b3e5bb8454"),  # RPI118
    bytes.fromhex("69942a7213eaf3c14a69996ba6c6bfeb"),  # RPI119
    bytes.fromhex("1c5c4dd25452e97dd187dd7ce1d1ee81"),  # RPI120
    bytes.fromhex("fbf5607a7c612aced160e755a987262d"),  # RPI121
    bytes.fromhex("3e2de13070f27443d9ba3eb43f9a71ea"),  # RPI122
    bytes.fromhex("8a12d25f006fab5a2707da9e6c4e96be"),  # RPI123
    bytes.fromhex("6fd98c22e227838e6f67369764437725"),  # RPI124
    bytes.fromhex("3da212aebdb78ba819809d03c6cf56e2"),  # RPI125
    bytes.fromhex("8c48da73e29effc9b74bb097096e0a0a"),  # RPI126
    bytes.fromhex("e53c68b4b01c68f37e65a0dc8e67f45d"),  # RPI127
    bytes.fromhex("8331dde6364b119527af76fee17aabcf"),  # RPI128
    bytes.fromhex("8c14471f5571926396dde6f7b7b35b56"),  # RPI129
    bytes.fromhex("4eb6b2deb40e5ec9bc39838102a4f4f9"),  # RPI130
    bytes.fromhex("77f2141ceffd0aa3bee4b67c450d9aa6"),  # RPI131
    bytes.fromhex("043d78e20cb59c0bcb1578ff93ea544a"),  # RPI132
    bytes.fromhex("65b8ecc4561c1cca053d814ffd8961d4"),  # RPI133
    bytes.fromhex("32f25a1724f2bdcad05abc1482e1329e"),  # RPI134
    bytes.fromhex("203ba3f3f7230266b993b3ee7b2d8608"),  # RPI135
    bytes.fromhex("e5e7a47069216e1a887b90ef0394a35c"),  # RPI136
    bytes.fromhex("3ffc8bb91dbcd8ee924948f5080b190d"),  # RPI137
    bytes.fromhex("32375391077fbf7686bafa7dc156be1c"),  # RPI138
    bytes.fromhex("a8904965aec5ddb655e97007d223db48"),  # RPI139
    bytes.fromhex("415cf7af1dc9feacb3978488f5046893"),  # RPI140
    bytes.fromhex("86f8ddc0c93e53e3a582e61f01f7df2f"),  # RPI141
    bytes.fromhex("a65ef7ba9752c4173ba48a33849c5e52"),  # RPI142
    bytes.fromhex("f431b62ecf443102ce4ed0407de54bd4"),  # RPI143
)

# Java: AEM0 .. AEM143 (Associated Encrypted Metadata, in ADVERTISED_DATA order)
AEMS: tuple[bytes, ...] = (
    bytes.fromhex("72033874"),  # AEM0
    bytes.fromhex("c29211b1"),  # AEM1
    bytes.fromhex("6adfad03"),  # AEM2
    bytes.fromhex("f1e2f80b"),  # AEM3
    bytes.fromhex("5668c474"),  # AEM4
    bytes.fromhex("f7b97e84"),  # AEM5
    bytes.fromhex("eeabfdc7"),  # AEM6
    bytes.fromhex("9f84a9a6"),  # AEM7
    bytes.fromhex("c11acb4d"),  # AEM8
    bytes.fromhex("1f8d53de"),  # AEM9
    bytes.fromhex("e0a7f9f2"),  # AEM10
    bytes.fromhex("f4b7b09d"),  # AEM11
    bytes.fromhex("7391dd64"),  # AEM12
    bytes.fromhex("127db09e"),  # AEM13
    bytes.fromhex("435ea556"),  # AEM14
    bytes.fromhex("dc1f1906"),  # AEM15
    bytes.fromhex("b3eaafdd"),  # AEM16
    bytes.fromhex("cd5186f9"),  # AEM17
    bytes.fromhex("7f387e7f"),  # AEM18
    bytes.fromhex("1a42a15b"),  # AEM19
    bytes.fromhex("06390ded"),  # AEM20
    bytes.fromhex("0f01bcd7"),  # AEM21
    bytes.fromhex("c7bfbb92"),  # AEM22
    bytes.fromhex("217c8e4a"),  # AEM23
    bytes.fromhex("ee639bd6"),  # AEM24
    bytes.fromhex("608c130f"),  # AEM25
    bytes.fromhex("74b2c873"),  # AEM26
    bytes.fromhex("956a95eb"),  # AEM27
    bytes.fromhex("c6fa3c7a"),  # AEM28
    bytes.fromhex("a2abc703"),  # AEM29
    bytes.fromhex("8009b2aa"),  # AEM30
    bytes.fromhex("cfe804cb"),  # AEM31
    bytes.fromhex("cb2a7e22"),  # AEM32
    bytes.fromhex("6503a727"),  # AEM33
    bytes.fromhex("8f29787e"),  # AEM34
    bytes.fromhex("b2add3b7"),  # AEM35
    bytes.fromhex("1bfb460a"),  # AEM36
    bytes.fromhex("8ecf077b"),  # AEM37
    bytes.fromhex("2ba77b38"),  # AEM38
    bytes.fromhex("8c1240de"),  # AEM39
    bytes.fromhex("438999b6"),  # AEM40
    bytes.fromhex("1dcbdc6e"),  # AEM41
    bytes.fromhex("6385ffda"),  # AEM42
    bytes.fromhex("696c0cdf"),  # AEM43
    bytes.fromhex("63842bba"),  # AEM44
    bytes.fromhex("b7e22c60"),  # AEM45
    bytes.fromhex("d2e7d6d8"),  # AEM46
    bytes.fromhex("91be922c"),  # AEM47
    bytes.fromhex("7e0421bb"),  # AEM48
    bytes.fromhex("7ea5209f"),  # AEM49
    bytes.fromhex("1c920628"),  # AEM50
    bytes.fromhex("4a764632"),  # AEM51
    bytes.fromhex("69a749b6"),  # AEM52
    bytes.fromhex("6f9485db"),  # AEM53
    bytes.fromhex("74780723"),  # AEM54
    bytes.fromhex("8917da61"),  # AEM55
    bytes.fromhex("fec4f8b1"),  # AEM56
    bytes.fromhex("781a3eaf"),  # AEM57
    bytes.fromhex("b9759b61"),  # AEM58
    bytes.fromhex("483c9410"),  # AEM59
    bytes.fromhex("2da6ebac"),  # AEM60
    bytes.fromhex("43eacf34"),  # AEM61
    bytes.fromhex("b9a13653"),  # AEM62
    bytes.fromhex("356dea55"),  # AEM63
    bytes.fromhex("3505b7f3"),  # AEM64
    bytes.fromhex("5c05cd94"),  # AEM65
    bytes.fromhex("984745d6"),  # AEM66
    bytes.fromhex("93fdf708"),  # AEM67
    bytes.fromhex("d70f744c"),  # AEM68
    bytes.fromhex("60578c31"),  # AEM69
    bytes.fromhex("7900eead"),  # AEM70
    bytes.fromhex("c122ad68"),  # AEM71
    bytes.fromhex("340aa382"),  # AEM72
    bytes.fromhex("67c60dfb"),  # AEM73
    bytes.fromhex("4556b673"),  # AEM74
    bytes.fromhex("9e4f1db4"),  # AEM75
    bytes.fromhex("5be04e9d"),  # AEM76
    bytes.fromhex("806af2f9"),  # AEM77
    bytes.fromhex("7af8d4fd"),  # AEM78
    bytes.fromhex("fc8dddd0"),  # AEM79
    bytes.fromhex("da881568"),  # AEM80
    bytes.fromhex("1395cf7b"),  # AEM81
    bytes.fromhex("d9e25db6"),  # AEM82
    bytes.fromhex("c1b20597"),  # AEM83
    bytes.fromhex("eb539199"),  # AEM84
    bytes.fromhex("c81ab854"),  # AEM85
    bytes.fromhex("46ee82dc"),  # AEM86
    bytes.fromhex("8a0528bd"),  # AEM87
    bytes.fromhex("28033aae"),  # AEM88
    bytes.fromhex("a01ce712"),  # AEM89
    bytes.fromhex("c9cb8c70"),  # AEM90
    bytes.fromhex("dbe68f47"),  # AEM91
    bytes.fromhex("4cb1d94f"),  # AEM92
    bytes.fromhex("27740632"),  # AEM93
    bytes.fromhex("e8adeb6d"),  # AEM94
    bytes.fromhex("e53a5ac7"),  # AEM95
    bytes.fromhex("943242a4"),  # AEM96
    bytes.fromhex("0648dc89"),  # AEM97
    bytes.fromhex("855e31b3"),  # AEM98
    bytes.fromhex("9c1f07c2"),  # AEM99
    bytes.fromhex("984e1ff3"),  # AEM100
    bytes.fromhex("b3fba7e1"),  # AEM101
    bytes.fromhex("3b6d9de8"),  # AEM102
    bytes.fromhex("f085551c"),  # AEM103
    bytes.fromhex("0a6b326e"),  # AEM104
    bytes.fromhex("81eb20e2"),  # AEM105
    bytes.fromhex("34d86ee5"),  # AEM106
    bytes.fromhex("eaeac3d2"),  # AEM107
    bytes.fromhex("eaa64a8e"),  # AEM108
    bytes.fromhex("1e2ca37b"),  # AEM109
    bytes.fromhex("44c0d706"),  # AEM110
    bytes.fromhex("5a8c79b7"),  # AEM111
    bytes.fromhex("279f16b1"),  # AEM112
    bytes.fromhex("4bd907aa"),  # AEM113
    bytes.fromhex("2df6c5eb"),  # AEM114
    bytes.fromhex("66852d43"),  # AEM115
    bytes.fromhex("836d3b95"),  # AEM116
    bytes.fromhex("2735b997"),  # AEM117
    bytes.fromhex("d71f97c2"),  # AEM118
    bytes.fromhex("53bc4db5"),  # AEM119
    bytes.fromhex("48a4d379"),  # AEM120
    bytes.fromhex("b78dc1f5"),  # AEM121
    bytes.fromhex("582170ca"),  # AEM122
    bytes.fromhex("939594cc"),  # AEM123
    bytes.fromhex("c14f5b11"),  # AEM124
    bytes.fromhex("300912da"),  # AEM125
    bytes.fromhex("ce79c50a"),  # AEM126
    bytes.fromhex("e04f3867"),  # AEM127
    bytes.fromhex("64187bdf"),  # AEM128
    bytes.fromhex("e87c05fd"),  # AEM129
    bytes.fromhex("4e708325"),  # AEM130
    bytes.fromhex("a157eb59"),  # AEM131
    bytes.fromhex("8d30432a"),  # AEM132
    bytes.fromhex("5b243890"),  # AEM133
    bytes.fromhex("7490d211"),  # AEM134
    bytes.fromhex("1f019df2"),  # AEM135
    bytes.fromhex("99e612b7"),  # AEM136
    bytes.fromhex("264a577e"),  # AEM137
    bytes.fromhex("a811ba62"),  # AEM138
    bytes.fromhex("2b483321"),  # AEM139
    bytes.fromhex("e2ef537e"),  # AEM140
    bytes.fromhex("711dbf6d"),  # AEM141
    bytes.fromhex("592dbca8"),  # AEM142
    bytes.fromhex("1215e57e"),  # AEM143
)

# --- Diagnosis-key export signing key (ContactTracingFeature.java) -------------

# Java: ContactTracingFeature.TEST_PARTNER_PUBLIC_KEYS, entry "310-v1" for package
# com.google.android.apps.exposurenotification. Base64 of a DER SubjectPublicKeyInfo
# (ECDSA P-256), copied verbatim.
SAMPLE_EXPORT_PUBLIC_KEY_B64: str = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE49JY6kekDgxj3Crm4y6kEHdfoKQFSNDM4mV9cgDb"
    "+e5nOAw0GeRoRThCu9/wX5wDT2QloFoOjl2pGZHI0f3C3w=="
)

# Java: same TEST_PARTNER_PUBLIC_KEYS string, the other key in it, "ExampleServer-v1"
# (a separate co-signing set). Base64 SPKI, copied verbatim.
EXAMPLE_SERVER_PUBLIC_KEY_B64: str = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUczyMAkfSeoU77Nmcb1G7t7xyGCAhQqMOIVDFLFas3J+"
    "elP7CiotovigCLWj706F07j1EPL27ThRzZl7Ha9uOA=="
)
