"""A synthetic population for demos and benchmarks, and probe files with planted duplicates.

Families live in real villages (grouped by commune): a couple, their children, sometimes a
grandparent; Khmer names as written with their usual Latin forms, and a few Cham families whose
names are written in Arabic script. Every child has a registered birth, every couple a registered
marriage, every deceased grandparent a registered death. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

from nokor.civil import matching
from nokor.civil.bulk import NewResident, ResidentWriter
from nokor.db import new_id

# (as written, usual Latin form)
FAMILY = [("សុខ", "Sok"), ("ចាន់", "Chan"), ("កែវ", "Keo"), ("ហេង", "Heng"), ("ម៉ៅ", "Mao"), ("គឹម", "Kim"),
          ("លី", "Ly"), ("លឹម", "Lim"), ("មាស", "Meas"), ("ញឹម", "Nhem"), ("ប៉ែន", "Pen"), ("ប្រាក់", "Prak"),
          ("សេង", "Seng"), ("ស៊ឹម", "Sim"), ("សំ", "Som"), ("ស៊ុន", "Sun"), ("ទូច", "Touch"), ("ទេព", "Tep"),
          ("អ៊ុច", "Uch"), ("វង្ស", "Vong"), ("យឹម", "Yim"), ("ជា", "Chea"), ("ឈឹម", "Chhim"), ("ហ៊ុន", "Hun"),
          ("ខៀវ", "Khiev"), ("ឡុង", "Long"), ("ម៉ែន", "Men"), ("អ៊ុក", "Ouk"), ("ពេជ្រ", "Pich"), ("រស់", "Ros"),
          ("សៅ", "Sao"), ("ព្រំ", "Prum"), ("នួន", "Nuon"), ("ពៅ", "Pov"), ("តាំង", "Taing"), ("ងួន", "Nguon"),
          ("អ៊ឹម", "Im"), ("ឯក", "Ek"), ("ស្រេង", "Sreng"), ("ឈួន", "Chhuon")]
MALE = [("សុភ័ក្រ", "Sopheak"), ("វិបុល", "Vibol"), ("ដារា", "Dara"), ("បូរ៉ា", "Bora"), ("សុខា", "Sokha"),
        ("វណ្ណៈ", "Vannak"), ("រតនា", "Rathana"), ("ពិសិដ្ឋ", "Piseth"), ("សម្បត្តិ", "Sambath"),
        ("វិចិត្រ", "Vichet"), ("សុវណ្ណ", "Sovann"), ("មករា", "Makara"), ("សុផល", "Sophal"), ("រិទ្ធី", "Rithy"),
        ("ធារ៉ា", "Theara"), ("កុសល", "Kosal"), ("សុធា", "Sothea"), ("វាសនា", "Veasna"), ("សំណាង", "Samnang"),
        ("ពិសាល", "Pisal"), ("វុទ្ធី", "Vuthy"), ("ណារិន", "Narin"), ("ចំរើន", "Chamroeun"), ("សុជាតិ", "Socheat"),
        ("បញ្ញា", "Panha"), ("ភក្តី", "Pheakdey"), ("សារ៉ុន", "Saron"), ("វឌ្ឍនា", "Vathana"), ("ឧត្តម", "Oudom"),
        ("សេរី", "Serey")]
FEMALE = [("ស្រីនាង", "Sreyneang"), ("សុភាព", "Sopheap"), ("ស្រីពៅ", "Sreypov"), ("ចន្ថា", "Chantha"),
          ("សុភា", "Sophea"), ("ដាវី", "Davy"), ("ស្រីល័ក្ខ", "Sreyleak"), ("សុគន្ធា", "Sokunthea"),
          ("រស្មី", "Reaksmey"), ("បុប្ផា", "Bopha"), ("ម៉ាលី", "Maly"), ("ធីតា", "Thida"), ("ស្រីមុំ", "Sreymom"),
          ("ស្រីនុច", "Sreynoch"), ("លីដា", "Lida"), ("ចិន្តា", "Chenda"), ("កញ្ញា", "Kanha"), ("វណ្ណា", "Vanna"),
          ("ពិសី", "Pisey"), ("សុវណ្ណារី", "Sovannary"), ("រចនា", "Rachana"), ("គន្ធា", "Kunthea"),
          ("ណារី", "Neary"), ("សុម៉ាលី", "Somaly"), ("សុខលី", "Sokly"), ("មុន្នី", "Monny"), ("ស្រីអូន", "Sreyoun"),
          ("ចរិយា", "Chariya"), ("សុខុម", "Sokhom"), ("រ៉ាវី", "Ravy")]
# Cham families: names written in Arabic script, with their usual Latin forms and other spellings met.
ARABIC_FAMILY = [("أحمد", "Ahmad", ["Ahmed", "Ahmat"]), ("إسماعيل", "Ismail", ["Ismael", "Ismaeil"]),
                 ("يوسف", "Yusof", ["Yousef", "Yusuf"]), ("موسى", "Musa", ["Mousa", "Mussa"]),
                 ("قاسم", "Kasim", ["Qasim", "Kassem"]), ("حامد", "Hamid", ["Hamed", "Hameed"]),
                 ("سليمان", "Soleiman", ["Sulaiman", "Suleman"]), ("إدريس", "Idris", ["Edris", "Idrees"])]
ARABIC_MALE = [("محمد", "Mohamad", ["Mohammed", "Muhammad"]), ("علي", "Ali", ["Aly", "Alee"]),
               ("حسن", "Hassan", ["Hasan", "Hasen"]), ("عمر", "Omar", ["Umar", "Omer"]),
               ("إبراهيم", "Ibrahim", ["Ebrahim", "Ibraheem"]), ("عبد الله", "Abdullah", ["Abdallah", "Abdulla"]),
               ("كريم", "Karim", ["Kareem", "Kerim"]), ("سليم", "Salim", ["Saleem", "Selim"])]
ARABIC_FEMALE = [("فاطمة", "Fatimah", ["Fatima", "Fatma"]), ("عائشة", "Aishah", ["Aisha", "Aysha"]),
                 ("زينب", "Zainab", ["Zaynab", "Zeinab"]), ("مريم", "Maryam", ["Mariam", "Meryem"]),
                 ("حليمة", "Halimah", ["Halima", "Helima"]), ("آمنة", "Aminah", ["Amina", "Amena"]),
                 ("خديجة", "Khadijah", ["Khadija", "Hadija"]), ("سلمى", "Salma", ["Selma", "Salmah"])]
VARIANTS = {latin: others for table in (ARABIC_FAMILY, ARABIC_MALE, ARABIC_FEMALE) for _w, latin, others in table}
# Romanisation habits: each pair can replace the other in a Khmer name's Latin form.
ROMANISATION = [("ey", "ei"), ("ea", "ia"), ("ou", "u"), ("ph", "p"), ("th", "t"), ("kh", "k"), ("v", "w"),
                ("y", "i"), ("oeu", "eu"), ("ch", "j"), ("ie", "iev"), ("aa", "a")]
PERTURBATIONS = ("typo", "transliteration", "swapped_date", "missing_fields")


@dataclass
class Population:
    """What was generated: counts and the residents' ids (for samples)."""

    residents: int = 0
    households: int = 0
    events: int = 0


def _name(rng: random.Random, sex: str, cham: bool, family: tuple[str, str] | None = None
          ) -> tuple[str, str, str, str]:
    """(given, family, given Latin, family Latin)."""
    if cham:
        g = rng.choice(ARABIC_MALE if sex == "M" else ARABIC_FEMALE)
        f = family or rng.choice(ARABIC_FAMILY)[:2]
        return g[0], f[0], g[1], f[1]
    gk = rng.choice(MALE if sex == "M" else FEMALE)
    f = family or rng.choice(FAMILY)
    return gk[0], f[0], gk[1], f[1]


def _born(rng: random.Random, today: date, min_age: int, max_age: int) -> date:
    return today - timedelta(days=rng.randint(min_age * 365, max_age * 365 + 364))


def _communes(villages: set[str]) -> list[list[str]]:
    by_commune: dict[str, list[str]] = {}
    for code in sorted(villages):
        by_commune.setdefault(code[:6], []).append(code)
    return list(by_commune.values())


def families(count: int, *, villages: set[str], seed: int = 2026, today: date | None = None
             ) -> Iterator[tuple[uuid.UUID, str, list[NewResident], list[tuple[str, NewResident, NewResident | None,
                                                                          date]]]]:
    """Households until ``count`` residents: (household id, village, members, events).

    An event is (kind, subject, partner or None, date).
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic people, repeatable for a seed
    today = today or date.today()
    communes = _communes(villages) or [[""]]
    made = 0
    while made < count:
        commune = rng.choice(communes)
        village = rng.choice(commune)
        cham = rng.random() < 0.04
        household = new_id()
        father_born = _born(rng, today, 22, 62)
        mother_born = father_born + timedelta(days=rng.randint(0, 6 * 365))
        fg, ff, fgl, ffl = _name(rng, "M", cham)
        mg, mf, mgl, mfl = _name(rng, "F", cham)
        imprecise = rng.random() < 0.04
        father = NewResident(fg, ff, fgl, ffl, "M", father_born.replace(month=1, day=1) if imprecise else father_born,
                             "year" if imprecise else "day", rng.choice(rng.choice(communes)), village,
                             household_id=household)
        mother = NewResident(mg, mf, mgl, mfl, "F", mother_born, "day", rng.choice(rng.choice(communes)), village,
                             household_id=household)
        father.spouse_id, mother.spouse_id = mother.id, father.id
        members = [father, mother]
        events: list[tuple[str, NewResident, NewResident | None, date]] = []
        married = max(father_born, mother_born) + timedelta(days=rng.randint(19 * 365, 24 * 365))
        married = min(married, today - timedelta(days=30))
        events.append(("marriage", father, mother, married))
        family = (ff, ffl)
        child_born = married + timedelta(days=rng.randint(300, 700))
        for _child in range(rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4, 5))):
            if child_born >= today or made + len(members) >= count:
                break
            sex = rng.choice("FM")
            cg, cf, cgl, cfl = _name(rng, sex, cham, family)
            child = NewResident(cg, cf, cgl, cfl, sex, child_born, "day", rng.choice(commune), village,
                                mother_name=f"{mf} {mg}", father_name=f"{ff} {fg}", mother_id=mother.id,
                                father_id=father.id, household_id=household)
            members.append(child)
            events.append(("birth", child, None, child_born))
            child_born += timedelta(days=rng.randint(400, 1500))
        if rng.random() < 0.15 and made + len(members) < count:
            gg, gf, ggl, gfl = _name(rng, "F", cham, family)
            grandmother_born = (father_born - timedelta(days=rng.randint(18, 35) * 365)).replace(month=1, day=1)
            grandmother = NewResident(gg, gf, ggl, gfl, "F", grandmother_born, "year", rng.choice(commune), village,
                                      household_id=household)
            if rng.random() < 0.3:
                grandmother.status = "deceased"
                grandmother.death_date = today - timedelta(days=rng.randint(30, 3000))
                events.append(("death", grandmother, None, grandmother.death_date))
            members.append(grandmother)
        members = members[: count - made]
        kept = {m.id for m in members}
        for member in members:
            if member.spouse_id not in kept:
                member.spouse_id = None
        made += len(members)
        yield household, village, members, [e for e in events if e[1].id in kept and (e[2] is None or e[2].id in kept)]


def load_population(writer: ResidentWriter, count: int, *, villages: set[str], seed: int = 2026,
                    on_progress: object = None) -> Population:
    """Generate ``count`` residents in families and queue them, with households and events, on ``writer``."""
    done = Population()
    for household, village, members, events in families(count, villages=villages, seed=seed):
        writer.add_household(household, address_code=village or None, head_id=members[0].id)
        for member in members:
            if not member.birth_place_code:
                member.birth_place_code = member.address_code = None
            writer.add(member)
        for kind, subject, partner, when in events:
            writer.add_event(kind=kind, subject_id=subject.id, partner_id=partner.id if partner else None,
                             occurred_on=when, place_code=subject.address_code)
        writer.maybe_flush()
        done.residents += len(members)
        done.households += 1
        done.events += len(events)
        if callable(on_progress):
            on_progress(len(members))
    return done


# --- planted duplicates --------------------------------------------------------------------------


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text + rng.choice("aeioun")
    i = rng.randrange(1, len(text))
    kind = rng.choice(("substitute", "delete", "insert", "transpose"))
    letter = rng.choice("abcdeghiklmnoprstuvy")
    if kind == "substitute":
        return text[:i] + letter + text[i + 1:]
    if kind == "delete":
        return text[:i] + text[i + 1:]
    if kind == "insert":
        return text[:i] + letter + text[i:]
    if i >= len(text) - 1:
        i -= 1
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _romanise_again(rng: random.Random, written: str, latin: str) -> str:
    """Another way to write the name in Latin letters: another spelling, anyascii, or a habit."""
    if latin in VARIANTS:
        return rng.choice(VARIANTS[latin])
    if rng.random() < 0.4 and not written.isascii():
        return matching.latin_form(written)
    lower = latin.lower()
    habits = [(a, b) for a, b in ROMANISATION if a in lower] + [(b, a) for a, b in ROMANISATION if b in lower]
    if not habits:
        return latin + "h" if not latin.endswith("h") else latin[:-1]
    a, b = rng.choice(habits)
    return lower.replace(a, b, 1).capitalize()


def perturb(rng: random.Random, original: NewResident, kinds: list[str]) -> NewResident:
    """A copy of ``original`` as another clerk might have written it down."""
    dup = replace(original, id=new_id(), spouse_id=None, household_id=None, mother_id=None, father_id=None)
    for kind in kinds:
        if kind == "typo":
            if rng.random() < 0.5:
                dup.given_name = dup.given_name_latin = _typo(rng, dup.given_name_latin)
            else:
                dup.family_name = dup.family_name_latin = _typo(rng, dup.family_name_latin)
        elif kind == "transliteration":
            if not original.given_name.isascii():
                # the clerk had only the Latin keyboard, or only the written script
                dup.given_name = dup.given_name_latin = _romanise_again(rng, original.given_name,
                                                                        original.given_name_latin)
                dup.family_name = dup.family_name_latin = _romanise_again(rng, original.family_name,
                                                                          original.family_name_latin)
        elif kind == "swapped_date":
            day = original.birth_date
            if original.birth_date_precision != "day":
                dup.birth_date = day.replace(year=day.year + rng.choice((-1, 1)))
            else:
                other = matching.swapped(day)
                dup.birth_date = other if other else day + timedelta(days=rng.choice((-1, 1)))
        elif kind == "missing_fields":
            dropped = rng.sample(("place", "parents", "precision"), rng.randint(1, 2))
            if "place" in dropped:
                dup.birth_place_code = dup.address_code = None
            if "parents" in dropped:
                dup.mother_name = dup.father_name = None
            if "precision" in dropped:
                dup.birth_date = dup.birth_date.replace(month=1, day=1)
                dup.birth_date_precision = "year"
    return dup


def probe_rows(originals: list[tuple[str, NewResident]], *, rows: int, villages: set[str], seed: int = 7,
               duplicate_share: float = 0.5) -> Iterator[tuple[NewResident, dict[str, str]]]:
    """``rows`` people to look up: perturbed copies of ``originals`` (NIN, resident) marked with the NIN they
    duplicate, and new people (some of them siblings of residents: same family and parents, another name)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic people, repeatable for a seed
    fresh = (m for _h, _v, members, _e in families(rows * 2 + 10, villages=villages, seed=seed + 1)
             for m in members)
    for _ in range(rows):
        if originals and rng.random() < duplicate_share:
            nin, original = rng.choice(originals)
            kinds = rng.sample(PERTURBATIONS, rng.choice((1, 1, 2)))
            yield perturb(rng, original, kinds), {"duplicate_of": nin, "perturbation": "+".join(kinds)}
        elif originals and rng.random() < 0.25:
            _nin, original = rng.choice(originals)
            cham = original.given_name_latin in VARIANTS or original.family_name_latin in VARIANTS
            g, _f, gl, _fl = _name(rng, original.sex, cham, (original.family_name, original.family_name_latin))
            while gl == original.given_name_latin:
                g, _f, gl, _fl = _name(rng, original.sex, cham, (original.family_name, original.family_name_latin))
            gap = timedelta(days=rng.randint(400, 2000))
            born = original.birth_date + gap if original.birth_date + gap < date.today() else original.birth_date - gap
            sibling = replace(original, id=new_id(), given_name=g, given_name_latin=gl, birth_date=born)
            yield sibling, {"duplicate_of": "", "perturbation": "sibling"}
        else:
            yield next(fresh), {"duplicate_of": "", "perturbation": "new"}
