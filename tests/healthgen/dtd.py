"""Internal DTD text for each Apple Health export version.

The importer must survive every DTD shape Apple has shipped, so the generator writes the
subset that matches ``export_version`` (see apple-health-format.md §1.2). The text is
built from a compact table instead of one literal blob so that the version differences
(and the iOS 16 breakage) are explicit and easy to audit.
"""

from __future__ import annotations

# (element name, content model, [(attribute, "#REQUIRED"|"#IMPLIED")], min version)
_REQ = "#REQUIRED"
_IMP = "#IMPLIED"

_RECORD_ATTRS = [("type", _REQ), ("unit", _IMP), ("value", _IMP), ("sourceName", _REQ),
                 ("sourceVersion", _IMP), ("device", _IMP), ("creationDate", _IMP),
                 ("startDate", _REQ), ("endDate", _REQ)]
_CORR_ATTRS = [("type", _REQ), ("sourceName", _REQ), ("sourceVersion", _IMP), ("device", _IMP),
               ("creationDate", _IMP), ("startDate", _REQ), ("endDate", _REQ)]
_WORKOUT_ATTRS = [("workoutActivityType", _REQ), ("duration", _IMP), ("durationUnit", _IMP),
                  ("totalDistance", _IMP), ("totalDistanceUnit", _IMP),
                  ("totalEnergyBurned", _IMP), ("totalEnergyBurnedUnit", _IMP),
                  ("sourceName", _REQ), ("sourceVersion", _IMP), ("device", _IMP),
                  ("creationDate", _IMP), ("startDate", _REQ), ("endDate", _REQ)]
_EYE_ATTRS = [(n + suffix, _IMP)
              for n in ("sphere", "cylinder", "axis", "add", "vertex", "prismAmount", "prismAngle",
                        "farPD", "nearPD", "baseCurve", "diameter")
              for suffix in ("", "Unit")]


def _attlist(name: str, attrs: list[tuple[str, str]], close: bool = True) -> str:
    width = max(len(a) for a, _ in attrs)
    body = "".join(f"  {a.ljust(width)} CDATA {kind}\n" for a, kind in attrs)
    return f"<!ATTLIST {name}\n{body}" + (">\n" if close else "")


def dtd_text(version: int, malformed: str | None = None) -> str:
    """Return the ``<!DOCTYPE HealthData [...]>`` block (with trailing newline).

    ``malformed`` reproduces the iOS 16 shapes: ``"vision"`` (unclosed
    ``<!ATTLIST VisionPrescription``), ``"attachment"`` (unclosed ``<!ATTLIST Attachment``),
    ``"extra_gt"`` (a stray ``>`` before ``]>``). Version 12 defaults to ``"vision"`` only when
    the caller asks for it, so a v12 export can also be produced well-formed.
    """
    top = "Record|Correlation|Workout|ActivitySummary"
    if version >= 11:
        top += "|ClinicalRecord|Audiogram"
    if version >= 12:
        top += "|VisionPrescription"
    out: list[str] = ["<!DOCTYPE HealthData [\n",
                      f"<!-- HealthKit Export Version: {version} -->\n",
                      f"<!ELEMENT HealthData (ExportDate,Me,({top})*)>\n",
                      _attlist("HealthData", [("locale", _REQ)]),
                      "<!ELEMENT ExportDate EMPTY>\n",
                      _attlist("ExportDate", [("value", _REQ)]),
                      "<!ELEMENT Me EMPTY>\n"]
    me = [("HKCharacteristicTypeIdentifierDateOfBirth", _REQ),
          ("HKCharacteristicTypeIdentifierBiologicalSex", _REQ),
          ("HKCharacteristicTypeIdentifierBloodType", _REQ),
          ("HKCharacteristicTypeIdentifierFitzpatrickSkinType", _REQ)]
    if version >= 11:
        me.append(("HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse",
                   _REQ if version >= 13 else _IMP))
    out.append(_attlist("Me", me))
    if version >= 11:
        out.append("<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>\n")
    else:
        out.append("<!ELEMENT Record ((MetadataEntry)*)>\n")
    out.append(_attlist("Record", _RECORD_ATTRS))
    out.append("<!-- Note: Any Records that appear as children of a correlation also appear as "
               "top-level records in this document. -->\n")
    out.append("<!ELEMENT Correlation ((MetadataEntry|Record)*)>\n")
    out.append(_attlist("Correlation", _CORR_ATTRS))
    if version >= 13:
        out.append("<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute|WorkoutStatistics)*)>\n")
    elif version >= 11:
        out.append("<!ELEMENT Workout ((MetadataEntry|WorkoutEvent|WorkoutRoute)*)>\n")
    else:
        out.append("<!ELEMENT Workout ((MetadataEntry|WorkoutEvent)*)>\n")
    out.append(_attlist("Workout", _WORKOUT_ATTRS))
    if version >= 13:
        out.append("<!ELEMENT WorkoutActivity ((MetadataEntry)*)>\n")
        out.append(_attlist("WorkoutActivity", [("uuid", _REQ), ("startDate", _REQ),
                                                ("endDate", _IMP), ("duration", _IMP),
                                                ("durationUnit", _IMP)]))
    out.append("<!ELEMENT WorkoutEvent ((MetadataEntry)*)>\n")
    out.append(_attlist("WorkoutEvent", [("type", _REQ), ("date", _REQ), ("duration", _IMP),
                                         ("durationUnit", _IMP)]))
    if version >= 12:
        out.append("<!ELEMENT WorkoutStatistics EMPTY>\n")
        out.append(_attlist("WorkoutStatistics", [("type", _REQ), ("startDate", _REQ),
                                                  ("endDate", _REQ), ("average", _IMP),
                                                  ("minimum", _IMP), ("maximum", _IMP),
                                                  ("sum", _IMP), ("unit", _IMP)]))
    if version >= 11:
        out.append("<!ELEMENT WorkoutRoute ((MetadataEntry|FileReference)*)>\n")
        out.append(_attlist("WorkoutRoute", _CORR_ATTRS[1:]))
        out.append("<!ELEMENT FileReference EMPTY>\n")
        out.append(_attlist("FileReference", [("path", _REQ)]))
    act = ["dateComponents", "activeEnergyBurned", "activeEnergyBurnedGoal",
           "activeEnergyBurnedUnit"]
    if version >= 12:
        act += ["appleMoveTime", "appleMoveTimeGoal"]
    act += ["appleExerciseTime", "appleExerciseTimeGoal", "appleStandHours", "appleStandHoursGoal"]
    out.append("<!ELEMENT ActivitySummary EMPTY>\n")
    out.append(_attlist("ActivitySummary", [(a, _IMP) for a in act]))
    out.append("<!ELEMENT MetadataEntry EMPTY>\n")
    out.append(_attlist("MetadataEntry", [("key", _REQ), ("value", _REQ)]))
    if version >= 11:
        out.append("<!-- Note: Heart Rate Variability records captured by Apple Watch may include an "
                   "associated list of instantaneous beats-per-minute readings. -->\n")
        out.append("<!ELEMENT HeartRateVariabilityMetadataList (InstantaneousBeatsPerMinute*)>\n")
        out.append("<!ELEMENT InstantaneousBeatsPerMinute EMPTY>\n")
        out.append(_attlist("InstantaneousBeatsPerMinute", [("bpm", _REQ), ("time", _REQ)]))
        out.append("<!ELEMENT ClinicalRecord EMPTY>\n")
        out.append(_attlist("ClinicalRecord", [(a, _REQ) for a in (
            "type", "identifier", "sourceName", "sourceURL", "fhirVersion", "receivedDate",
            "resourceFilePath")]))
        out.append("<!ELEMENT Audiogram ((MetadataEntry|SensitivityPoint)*)>\n")
        out.append(_attlist("Audiogram", _CORR_ATTRS))
        sp = [("frequencyValue", _REQ), ("frequencyUnit", _REQ)]
        for ear in ("leftEar", "rightEar"):
            sp += [(ear + "Value", _IMP), (ear + "Unit", _IMP)]
            if version >= 14:
                sp += [(ear + "Masked", _IMP), (ear + "ClampingRangeLowerBound", _IMP),
                       (ear + "ClampingRangeUpperBound", _IMP)]
        out.append("<!ELEMENT SensitivityPoint EMPTY>\n")
        out.append(_attlist("SensitivityPoint", sp))
    if version >= 12:
        out.append("<!ELEMENT VisionPrescription ((RightEye|LeftEye|Attachment|MetadataEntry)*)>\n")
        out.append(_attlist("VisionPrescription",
                            [("type", _REQ), ("dateIssued", _REQ), ("expirationDate", _IMP),
                             ("brand", _IMP)], close=malformed != "vision"))
        for eye in ("RightEye", "LeftEye"):
            out.append(f"<!ELEMENT {eye} EMPTY>\n")
            out.append(_attlist(eye, _EYE_ATTRS))
        out.append("<!ELEMENT Attachment EMPTY>\n")
        out.append(_attlist("Attachment", [("identifier", _IMP)], close=malformed != "attachment"))
    if malformed == "extra_gt":
        out.append(">\n")
    out.append("]>\n")
    return "".join(out)
