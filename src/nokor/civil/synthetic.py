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

# Family names: the common Khmer (and Sino-Khmer) family names, as written and in their usual Latin form,
# most frequent first (a family name is drawn with a Zipf-like weight by rank, so Sok, Chan and Keo are
# common and most names rare, as in a real population).
FAMILY = [
    ("សុខ", "Sok"), ("ចាន់", "Chan"), ("កែវ", "Keo"), ("ហេង", "Heng"), ("ម៉ៅ", "Mao"), ("គឹម", "Kim"),
    ("លី", "Ly"), ("លឹម", "Lim"), ("មាស", "Meas"), ("ញឹម", "Nhem"), ("ប៉ែន", "Pen"), ("ប្រាក់", "Prak"),
    ("សេង", "Seng"), ("ស៊ឹម", "Sim"), ("សំ", "Som"), ("ស៊ុន", "Sun"), ("ទូច", "Touch"), ("ទេព", "Tep"),
    ("អ៊ុច", "Uch"), ("វង្ស", "Vong"), ("យឹម", "Yim"), ("ជា", "Chea"), ("ឈឹម", "Chhim"), ("ហ៊ុន", "Hun"),
    ("ខៀវ", "Khiev"), ("ឡុង", "Long"), ("ម៉ែន", "Men"), ("អ៊ុក", "Ouk"), ("ពេជ្រ", "Pich"), ("រស់", "Ros"),
    ("សៅ", "Sao"), ("ព្រំ", "Prum"), ("នួន", "Nuon"), ("ពៅ", "Pov"), ("តាំង", "Taing"), ("ងួន", "Nguon"),
    ("អ៊ឹម", "Im"), ("ឯក", "Ek"), ("ស្រេង", "Sreng"), ("ឈួន", "Chhuon"), ("ឆាយ", "Chhay"), ("ជ័យ", "Chey"),
    ("ជិម", "Chim"), ("ជឿន", "Choeun"), ("ឈុន", "Chhun"), ("ឈឿន", "Chhoeun"), ("ហង់", "Hang"), ("ហួន", "Houn"),
    ("ហែម", "Hem"), ("ហុង", "Hong"), ("គង់", "Kong"), ("គ្រី", "Kry"), ("គួយ", "Kuy"), ("ឡាយ", "Lay"),
    ("ឡេង", "Leng"), ("ម៉ម", "Mam"), ("មាន", "Mean"), ("មុំ", "Mom"), ("ណុប", "Nop"), ("នូវ", "Nov"),
    ("នី", "Ny"), ("អឿន", "Oeurn"), ("អុង", "Ong"), ("អ៊ុំ", "Oum"), ("ប៉ាក់", "Pak"), ("ប៉ាង", "Pang"),
    ("ផាត់", "Phat"), ("ផុន", "Phon"), ("ផេង", "Pheng"), ("រ័ត្ន", "Rath"), ("រាម", "Ream"), ("រឿន", "Roeun"),
    ("សាម", "Sam"), ("សាន", "San"), ("សារ", "Sar"), ("សេក", "Sek"), ("សែន", "Sen"), ("ស៊ីន", "Sin"),
    ("សូ", "So"), ("ស៊ឿន", "Soeun"), ("សន", "Sorn"), ("ស្រ៊ុន", "Srun"), ("សួន", "Suon"), ("តាន់", "Tan"),
    ("តង", "Tang"), ("ថាច់", "Thach"), ("ថៃ", "Thai"), ("ទ្រី", "Try"), ("ទី", "Ty"), ("អ៊ុង", "Ung"),
    ("អ៊ុន", "Un"), ("វ៉ា", "Va"), ("វ៉េន", "Ven"), ("វណ្ណ", "Vann"), ("វឿន", "Voeun"), ("យិន", "Yin"),
    ("យន់", "Yon"), ("យុន", "Yun"), ("យស", "Yos"), ("យូ", "You"), ("ឃុន", "Khun"), ("ឃឹម", "Khim"),
    ("ខេម", "Khem"), ("ឃឿន", "Khoeun"), ("កៅ", "Kao"), ("កែប", "Kep"), ("កុយ", "Koy"), ("ឡាច", "Lach"),
    ("លាភ", "Leap"), ("ម៉ាត់", "Math"), ("ម៉ុក", "Mok"), ("មឿន", "Moeun"), ("នាក់", "Nak"), ("ណេត", "Net"),
    ("អូន", "Oun"), ("ប៉ាល់", "Pal"), ("ផល", "Phal"), ("ភ័ណ", "Phorn"), ("ភី", "Phy"), ("ពរ", "Por"),
    ("ព្រាប", "Preap"), ("ពុធ", "Puth"), ("រិន", "Rin"), ("រ៉ុន", "Ron"), ("សាត", "Sath"), ("សាយ", "Say"),
    ("សៀង", "Sieng"), ("ស្រី", "Srey"), ("តាត", "Tat"), ("ទា", "Tea"), ("តេង", "Teng"), ("ថន", "Thorn"),
    ("ធី", "Thy"), ("តូច", "Toch"), ("ទុំ", "Tum"), ("អ៊ុយ", "Uy"), ("វ៉េង", "Veng"), ("វុធ", "Vuth"),
    ("យី", "Yi"), ("យឿន", "Yoeun"), ("ជិន", "Chin"), ("ជុំ", "Chum"), ("ឌី", "Dy"), ("ដួង", "Duong"),
    ("អេង", "Eng"), ("អៀវ", "Eav"), ("ហាក់", "Hak"), ("ហួត", "Huot"), ("អ៊ីវ", "Iv"), ("កាន់", "Kan"),
    ("គា", "Kea"), ("ឃុត", "Khut"), ("ឡូ", "Lo"), ("ម៉ី", "Mey"), ("នង", "Norng"), ("អុក", "Ok"),
    ("ផា", "Pha"), ("ព្រហ្ម", "Prom"), ("រិម", "Rim"), ("ស៊ូស", "Sous"), ("សួង", "Suong"), ("ទិត្យ", "Tith"),
    ("តុង", "Tong"), ("វ៉ន", "Vorn"), ("យ៉ាន", "Yann"), ("បាន", "Ban"), ("ប៊ុន", "Bun"), ("ប៊ូ", "Bou"),
    ("ចន", "Chorn"), ("ដាំ", "Dam"), ("ដែក", "Dek"), ("ហៃ", "Hay"), ("ខែម", "Kem"), ("គុន", "Kun"),
    ("ឡាង", "Lang"), ("ម៉ាក់", "Mak"), ("ណាន", "Nan"), ("ពេញ", "Penh"), ("ប៉េង", "Peng"), ("ធីម", "Thim"),
    ("ទីន", "Tin"), ("វី", "Vy"), ("យ៉ាង", "Yang"), ("អ៊ាង", "Eang"), ("ឈាង", "Chheang"), ("ហ៊ាង", "Hieng"),
    ("ខុន", "Khon"), ("គុជ", "Kuch"), ("លឹក", "Loek"), ("មួង", "Muong"), ("ណែម", "Nem"), ("ពុំ", "Pum"),
    ("រី", "Ry"), ("សឿន", "Soeurn"), ("ទុយ", "Tuy"), ("វាំង", "Veang"), ("យុទ្ធ", "Yuth"), ("ចេង", "Cheng"),
    # family names taken from a forebear's given name, as many Khmer family names are
    ("ដារា", "Dara"), ("សុផល", "Sophal"), ("វណ្ណា", "Vanna"), ("សម្បត្តិ", "Sambath"), ("រិទ្ធី", "Rithy"),
    ("វិបុល", "Vibol"), ("សុខា", "Sokha"), ("បូរ៉ា", "Bora"), ("វាសនា", "Veasna"), ("សំណាង", "Samnang"),
    ("កុសល", "Kosal"), ("សុវណ្ណ", "Sovann"), ("ធារ៉ា", "Theara"), ("ពិសិដ្ឋ", "Piseth"), ("វុទ្ធី", "Vuthy"),
    ("ណារិន", "Narin"), ("សារ៉ុន", "Saron"), ("ឧត្តម", "Oudom"), ("សេរី", "Serey"), ("មករា", "Makara"),
]
# Khmer given names are built from syllables: a first syllable and an ending (So-phea, Srey-neang,
# Chan-tha, Vi-bol), written by joining the syllables and romanised by joining their usual Latin forms.
FIRST = [("សុ", "So"), ("ចាន់", "Chan"), ("សុខ", "Sok"), ("វណ្ណ", "Vann"), ("ពិ", "Pi"), ("ដា", "Da"),
         ("បុ", "Bo"), ("ធា", "Thea"), ("សំ", "Sam"), ("លី", "Ly"), ("គឹម", "Kim"), ("វិ", "Vi"), ("ណា", "Na"),
         ("ភា", "Phea"), ("កុ", "Ko"), ("ម៉ុន", "Mon"), ("ប៊ុន", "Bun"), ("ដួង", "Duong"), ("រ៉ា", "Ra"),
         ("ធី", "Thy"), ("មុនី", "Mony"), ("ពេជ្រ", "Pich"), ("រិទ្ធ", "Rith"), ("សី", "Sei"), ("ស", "Sa"),
         ("មុ", "Mo"), ("សេ", "Se"), ("ឧ", "Ou"), ("វា", "Vea"), ("រដ្ឋ", "Rath"), ("ស៊ី", "Si"), ("ហុង", "Hong"),
         ("ម៉ា", "Ma"), ("ចំ", "Cham"), ("ពុទ្ធ", "Puth"), ("សៅ", "Sao"), ("ឡេង", "Leng"), ("ហេង", "Heng"),
         ("សេង", "Seng"), ("ច័ន្ទ", "Chann"), ("ពន្លក", "Ponlok"), ("ទេវ", "Tev"), ("នី", "Ny"), ("រស្មី", "Reaksmey"),
         ("ម៉េង", "Meng"), ("ភី", "Phy"), ("វិស", "Vis"), ("កញ្ញ", "Kanh"), ("សុភ", "Soph"), ("ឡាយ", "Lay")]
FIRST_FEMALE = [("ស្រី", "Srey"), ("ច័ន្ទ", "Chan"), ("ម៉ា", "Ma"), ("ពិ", "Pi"), ("ស", "Sa")]
ENDING = [("ភា", "phea"), ("ខា", "kha"), ("ណា", "na"), ("រ៉ា", "ra"), ("ថា", "tha"), ("ដា", "da"), ("ធា", "thea"),
          ("រិទ្ធ", "rith"), ("វុទ្ធ", "vuth"), ("ផល", "phal"), ("ជាតិ", "cheat"), ("វិន", "vin"), ("រិន", "rin"),
          ("ឆាយ", "chhay"), ("ហួរ", "hour"), ("គា", "kea"), ("នី", "ny"), ("វី", "vy"), ("ណាត", "nat"),
          ("លីន", "lin"), ("ម៉ាន", "man"), ("តា", "ta"), ("ល្លា", "lla"), ("ស៊ាង", "sieng")]
ENDING_MALE = [("ភ័ក្រ", "pheak"), ("សាល", "sal"), ("សិទ្ធ", "seth"), ("រ៉ុន", "ron"), ("បុល", "bol"),
               ("រ៉ាត់", "rat"), ("រិទ្ធី", "rithy"), ("វុទ្ធី", "vuthy"), ("បត្តិ", "bath"), ("ចិត្រ", "chet"),
               ("ដារ៉ា", "dara"), ("បូរ៉ា", "bora"), ("ម៉េង", "meng"), ("ហេង", "heng"), ("ឡេង", "leng"),
               ("ខេម", "khem"), ("ណាង", "nang"), ("ភាស់", "pheas"), ("វាន់", "van"), ("ធារ៉ា", "theara"),
               ("កុសល", "kosal"), ("វាសនា", "veasna"), ("ឧត្តម", "oudom"), ("ពិសាល", "pisal"), ("ទ្ធី", "thy")]
ENDING_FEMALE = [("ភាព", "pheap"), ("នាង", "neang"), ("ល័ក្ខ", "leak"), ("ពៅ", "pov"), ("មុំ", "mom"),
                 ("នុច", "noch"), ("រី", "ry"), ("លី", "ly"), ("ម៉ាលី", "maly"), ("ធីតា", "thida"), ("ណារី", "neary"),
                 ("ដាវី", "davy"), ("គន្ធា", "kunthea"), ("រស្មី", "reaksmey"), ("ចរិយា", "chariya"),
                 ("វណ្ណា", "vanna"), ("នីតា", "nita"), ("ពិសី", "pisey"), ("ម៉ី", "mey"), ("អូន", "oun"),
                 ("ស្រស់", "sros"), ("ពេជ្រ", "pich"), ("ភ័ស្ត្រា", "pheaktra"), ("ចិន្តា", "chenda"),
                 ("កញ្ញា", "kanha"), ("រចនា", "rachana"), ("ម៉ាប់", "map")]
# Whole names that are not split into syllables here (the classics), and one-syllable given names.
MALE = [("សុភ័ក្រ", "Sopheak"), ("វិបុល", "Vibol"), ("ដារា", "Dara"), ("បូរ៉ា", "Bora"), ("សុខា", "Sokha"),
        ("វណ្ណៈ", "Vannak"), ("រតនា", "Rathana"), ("ពិសិដ្ឋ", "Piseth"), ("សម្បត្តិ", "Sambath"),
        ("វិចិត្រ", "Vichet"), ("សុវណ្ណ", "Sovann"), ("មករា", "Makara"), ("សុផល", "Sophal"), ("រិទ្ធី", "Rithy"),
        ("ធារ៉ា", "Theara"), ("កុសល", "Kosal"), ("សុធា", "Sothea"), ("វាសនា", "Veasna"), ("សំណាង", "Samnang"),
        ("ពិសាល", "Pisal"), ("វុទ្ធី", "Vuthy"), ("ណារិន", "Narin"), ("ចំរើន", "Chamroeun"), ("សុជាតិ", "Socheat"),
        ("បញ្ញា", "Panha"), ("ភក្តី", "Pheakdey"), ("សារ៉ុន", "Saron"), ("វឌ្ឍនា", "Vathana"), ("ឧត្តម", "Oudom"),
        ("សេរី", "Serey")]
MALE_SHORT = [("សុខ", "Sok"), ("ហេង", "Heng"), ("រិទ្ធ", "Rith"), ("វុទ្ធ", "Vuth"), ("ចាន់", "Chan"), ("គឹម", "Kim"),
              ("សំ", "Sam"), ("ពេជ្រ", "Pich"), ("ធី", "Thy"), ("ប៊ុន", "Bun"), ("ម៉េង", "Meng"), ("សាន", "San"),
              ("ឡុង", "Long"), ("ពៅ", "Pov"), ("សុង", "Song"), ("ធួន", "Thuon"), ("ស៊ាន", "Sean"), ("ហុង", "Hong")]
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
                 ("سليمان", "Soleiman", ["Sulaiman", "Suleman"]), ("إدريس", "Idris", ["Edris", "Idrees"]),
                 ("عثمان", "Osman", ["Othman", "Usman"]), ("صالح", "Saleh", ["Salih", "Saleah"]),
                 ("رحمن", "Rahman", ["Rachman", "Rahmen"]), ("هارون", "Harun", ["Haroun", "Haroon"]),
                 ("زكريا", "Zakaria", ["Zakariya", "Zakarya"]), ("عيسى", "Isa", ["Issa", "Eisa"]),
                 ("داود", "Daud", ["Dawood", "Dawud"]), ("يحيى", "Yahya", ["Yahia", "Yehia"]),
                 ("منصور", "Mansur", ["Mansour", "Mansoor"]), ("رشيد", "Rashid", ["Rasheed", "Rachid"]),
                 ("سعيد", "Said", ["Saeed", "Sayed"]), ("هاشم", "Hashim", ["Hashem", "Hachem"]),
                 ("جمال", "Jamal", ["Gamal", "Jamel"]), ("طاهر", "Tahir", ["Taher", "Tahar"]),
                 ("عبد الرحمن", "Abdulrahman", ["Abdurrahman", "Abdelrahman"]),
                 ("ياسين", "Yasin", ["Yassin", "Yaseen"])]
ARABIC_MALE = [("محمد", "Mohamad", ["Mohammed", "Muhammad"]), ("علي", "Ali", ["Aly", "Alee"]),
               ("حسن", "Hassan", ["Hasan", "Hasen"]), ("عمر", "Omar", ["Umar", "Omer"]),
               ("إبراهيم", "Ibrahim", ["Ebrahim", "Ibraheem"]), ("عبد الله", "Abdullah", ["Abdallah", "Abdulla"]),
               ("كريم", "Karim", ["Kareem", "Kerim"]), ("سليم", "Salim", ["Saleem", "Selim"]),
               ("خالد", "Khalid", ["Khaled", "Chalid"]), ("حسين", "Husin", ["Hussein", "Hosein"]),
               ("مصطفى", "Mustafa", ["Mustapha", "Mostafa"]), ("إسحاق", "Ishak", ["Ishaq", "Eshak"]),
               ("رضوان", "Ridwan", ["Redwan", "Rizwan"]), ("أمين", "Amin", ["Ameen", "Emin"]),
               ("فاروق", "Faruk", ["Farouk", "Farooq"]), ("هادي", "Hadi", ["Hady", "Hadee"]),
               ("نوح", "Noh", ["Nuh", "Nooh"]), ("زيد", "Zaid", ["Zayd", "Zeid"]), ("سامي", "Sami", ["Samy", "Samee"]),
               ("بلال", "Bilal", ["Belal", "Bilel"]), ("أنور", "Anwar", ["Anuar", "Enver"]),
               ("فيصل", "Faisal", ["Faysal", "Feisal"]), ("مالك", "Malik", ["Malek", "Maalik"]),
               ("نعمان", "Noman", ["Nouman", "Numan"])]
ARABIC_FEMALE = [("فاطمة", "Fatimah", ["Fatima", "Fatma"]), ("عائشة", "Aishah", ["Aisha", "Aysha"]),
                 ("زينب", "Zainab", ["Zaynab", "Zeinab"]), ("مريم", "Maryam", ["Mariam", "Meryem"]),
                 ("حليمة", "Halimah", ["Halima", "Helima"]), ("آمنة", "Aminah", ["Amina", "Amena"]),
                 ("خديجة", "Khadijah", ["Khadija", "Hadija"]), ("سلمى", "Salma", ["Selma", "Salmah"]),
                 ("نور", "Nur", ["Noor", "Nour"]), ("صفية", "Safiyah", ["Safia", "Safiya"]),
                 ("رقية", "Rokiah", ["Ruqayya", "Rokaya"]), ("سعاد", "Suad", ["Souad", "Soad"]),
                 ("ليلى", "Laila", ["Layla", "Leila"]), ("هاجر", "Hajar", ["Hagar", "Hajer"]),
                 ("سارة", "Sarah", ["Sara", "Sarra"]), ("رحمة", "Rahmah", ["Rahma", "Rahmat"]),
                 ("نفيسة", "Nafisah", ["Nafisa", "Nefise"]), ("جميلة", "Jamilah", ["Jamila", "Djamila"]),
                 ("أسماء", "Asma", ["Asmaa", "Esma"]), ("حواء", "Hawa", ["Hawwa", "Hava"]),
                 ("سمية", "Sumayyah", ["Sumaya", "Somaya"]), ("رابعة", "Rabiah", ["Rabia", "Rabea"])]
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


def _ranked(count: int, *, shift: float = 3.0, power: float = 1.0) -> list[float]:
    """Cumulative Zipf-like weights for a table ordered from the most to the least frequent entry."""
    cumulative, total = [], 0.0
    for rank in range(count):
        total += 1 / (rank + shift) ** power
        cumulative.append(total)
    return cumulative


_FAMILY_WEIGHTS = _ranked(len(FAMILY))
_FIRST = {"M": FIRST, "F": FIRST_FEMALE + FIRST}
_ENDING = {"M": ENDING + ENDING_MALE, "F": ENDING_FEMALE + ENDING}
_FIRST_WEIGHTS = {sex: _ranked(len(table), power=0.8) for sex, table in _FIRST.items()}
_ENDING_WEIGHTS = {sex: _ranked(len(table), power=0.8) for sex, table in _ENDING.items()}
_CLASSIC = {"M": MALE, "F": FEMALE}
_CLASSIC_WEIGHTS = {sex: _ranked(len(table)) for sex, table in _CLASSIC.items()}
_SHORT_WEIGHTS = _ranked(len(MALE_SHORT))
_ARABIC_GIVEN = {"M": ARABIC_MALE, "F": ARABIC_FEMALE}
_ARABIC_GIVEN_WEIGHTS = {sex: _ranked(len(table), shift=2.0) for sex, table in _ARABIC_GIVEN.items()}
_ARABIC_FAMILY_WEIGHTS = _ranked(len(ARABIC_FAMILY), shift=2.0)


def _pick(rng: random.Random, table: list[tuple[str, str]], weights: list[float]) -> tuple[str, str]:
    return rng.choices(table, cum_weights=weights)[0]


def khmer_given_name(rng: random.Random, sex: str) -> tuple[str, str]:
    """A Khmer given name as written and its Latin form: mostly built from a first syllable and an
    ending, sometimes one of the classic whole names, for boys sometimes a single syllable."""
    sex = "M" if sex == "M" else "F"
    draw = rng.random()
    if draw < 0.2:
        return _pick(rng, _CLASSIC[sex], _CLASSIC_WEIGHTS[sex])
    if sex == "M" and draw < 0.3:
        return _pick(rng, MALE_SHORT, _SHORT_WEIGHTS)
    while True:
        first, first_latin = _pick(rng, _FIRST[sex], _FIRST_WEIGHTS[sex])
        ending, ending_latin = _pick(rng, _ENDING[sex], _ENDING_WEIGHTS[sex])
        if first_latin.lower() != ending_latin:
            return first + ending, (first_latin + ending_latin).capitalize()


def _name(rng: random.Random, sex: str, cham: bool, family: tuple[str, str] | None = None
          ) -> tuple[str, str, str, str]:
    """(given, family, given Latin, family Latin)."""
    if cham:
        table = _ARABIC_GIVEN["M" if sex == "M" else "F"]
        g = rng.choices(table, cum_weights=_ARABIC_GIVEN_WEIGHTS["M" if sex == "M" else "F"])[0]
        f = family or rng.choices(ARABIC_FAMILY, cum_weights=_ARABIC_FAMILY_WEIGHTS)[0][:2]
        return g[0], f[0], g[1], f[1]
    given, given_latin = khmer_given_name(rng, sex)
    f = family or _pick(rng, FAMILY, _FAMILY_WEIGHTS)
    return given, f[0], given_latin, f[1]


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
        named: set[str] = set()
        for _child in range(rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4, 5))):
            if child_born >= today or made + len(members) >= count:
                break
            sex = rng.choice("FM")
            cg, cf, cgl, cfl = _name(rng, sex, cham, family)
            for _again in range(20):  # parents give each child a name of its own
                if cgl not in named:
                    break
                cg, cf, cgl, cfl = _name(rng, sex, cham, family)
            named.add(cgl)
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
