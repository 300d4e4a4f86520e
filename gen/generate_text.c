/*
 * generate_text — the Portuguese texts of generated interactions: questions,
 * answers, intents, transcripts, names. Each platform shape has its own
 * corpus of question/answer pairs with slots ($1, $2, …) filled from topic
 * lists, wrapped in optional greetings, extra sentences and closings, so that
 * a few hundred fragments make many thousands of distinct texts.
 *
 * The fragments are deliberately not all plain: some carry double quotes,
 * line breaks, accents and emoji, so the JSON writer's escaping and the
 * decoder's UTF-8 checks are exercised by ordinary traffic.
 */
#include <string.h>

#include "tally_gen.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, a) ((a)[tally_gen_below((r), (uint32_t)N(a))])

typedef struct {
    const char *q, *a;
} qa;

/* ---- string builder ---- */

static void sb_put(tally_gen_sb *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        n = b->cap - 1 - b->len;
        /* cut before a UTF-8 continuation byte, never inside a character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_cat(tally_gen_sb *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Append tmpl with "$1".."$9" replaced by args[0..8]. */
static void sb_fill(tally_gen_sb *b, const char *tmpl, const char *const *args, int nargs) {
    const char *p = tmpl;
    for (;;) {
        const char *d = strchr(p, '$');
        if (!d) break;
        int k = d[1] - '1';
        if (k < 0 || k > 8) { /* a lone '$' is text */
            sb_put(b, p, (size_t)(d - p) + 1);
            p = d + 1;
            continue;
        }
        sb_put(b, p, (size_t)(d - p));
        if (k < nargs && args[k]) sb_cat(b, args[k]);
        p = d + 2;
    }
    sb_cat(b, p);
}

size_t tally_gen_utf8_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Append the parts that are non-empty, separated by `sep`. */
static void join(tally_gen_sb *b, const char *sep, const char *const *parts, int n) {
    for (int i = 0; i < n; i++) {
        if (!parts[i] || !*parts[i]) continue;
        if (b->len) sb_cat(b, sep);
        sb_cat(b, parts[i]);
    }
}

/* ---- people ---- */

static const struct {
    const char *name, *ascii;
} FIRST[] =
    {
        {"João", "joao"},         {"Maria", "maria"},         {"Ana", "ana"},
        {"José", "jose"},         {"Luíza", "luiza"},         {"Pedro", "pedro"},
        {"Letícia", "leticia"},   {"Gabriel", "gabriel"},     {"Beatriz", "beatriz"},
        {"Lucas", "lucas"},       {"Camila", "camila"},       {"Rafael", "rafael"},
        {"Júlia", "julia"},       {"Mateus", "mateus"},       {"Fernanda", "fernanda"},
        {"Thiago", "thiago"},     {"Larissa", "larissa"},     {"André", "andre"},
        {"Patrícia", "patricia"}, {"Márcio", "marcio"},       {"Conceição", "conceicao"},
        {"Raimundo", "raimundo"}, {"Francisca", "francisca"}, {"Antônio", "antonio"},
        {"Iara", "iara"},         {"Caio", "caio"},           {"Bruna", "bruna"},
        {"Heloísa", "heloisa"},
},
  LAST[] = {
      {"Silva", "silva"},       {"Santos", "santos"},         {"Oliveira", "oliveira"},
      {"Souza", "souza"},       {"Rodrigues", "rodrigues"},   {"Ferreira", "ferreira"},
      {"Alves", "alves"},       {"Pereira", "pereira"},       {"Lima", "lima"},
      {"Gomes", "gomes"},       {"Araújo", "araujo"},         {"Ribeiro", "ribeiro"},
      {"Carvalho", "carvalho"}, {"Nascimento", "nascimento"}, {"Magalhães", "magalhaes"},
      {"D'Ávila", "davila"},    {"Brandão", "brandao"},       {"Gonçalves", "goncalves"},
      {"Monteiro", "monteiro"}, {"Tavares", "tavares"},
};

void tally_gen_person_pick(tally_gen_rng *r, tally_gen_person *p) {
    unsigned f = tally_gen_below(r, (uint32_t)N(FIRST)), l = tally_gen_below(r, (uint32_t)N(LAST));
    p->first = FIRST[f].name;
    p->first_ascii = FIRST[f].ascii;
    p->last = LAST[l].name;
    p->last_ascii = LAST[l].ascii;
}

/* ---- 000: schools' course agents ---- */

static const struct {
    const char *name, *slug, *topics[6];
} COURSES[] = {
    {"Marketing Digital",
     "marketing-digital",
     {"funil de vendas", "tráfego pago", "persona", "SEO on-page", "taxa de conversão",
      "copywriting"}},
    {"Excel Avançado",
     "excel-avancado",
     {"PROCV", "tabela dinâmica", "SOMASES", "gráfico de Pareto", "macros em VBA",
      "formatação condicional"}},
    {"Python para Iniciantes",
     "python-iniciantes",
     {"listas e dicionários", "laços for", "funções", "tratamento de exceções",
      "list comprehension", "leitura de arquivos CSV"}},
    {"Finanças Pessoais",
     "financas-pessoais",
     {"reserva de emergência", "Tesouro Direto", "juros compostos", "CDB e LCI",
      "orçamento 50-30-20", "quitação de dívidas"}},
    {"Fotografia com Celular",
     "fotografia-celular",
     {"regra dos terços", "luz natural", "modo retrato", "edição no Lightroom", "composição",
      "balanço de branco"}},
    {"Inglês para o Trabalho",
     "ingles-trabalho",
     {"present perfect", "phrasal verbs", "e-mails formais", "entrevista de emprego", "small talk",
      "pronúncia do \"th\""}},
    {"Gestão de Projetos",
     "gestao-projetos",
     {"cronograma", "método Kanban", "gestão de riscos", "escopo", "sprints do Scrum",
      "indicadores de desempenho"}},
    {"Direito do Consumidor",
     "direito-consumidor",
     {"direito de arrependimento", "garantia legal", "cobrança indevida", "Procon",
      "vício do produto", "propaganda enganosa"}},
};

unsigned tally_gen_n_courses(void) { return (unsigned)N(COURSES); }
const char *tally_gen_course_slug(unsigned i) { return COURSES[i % N(COURSES)].slug; }

static const qa SCHOOL_QA[] = {
    {"Pode me explicar $1 com um exemplo prático?",
     "Pense em $1 como um passo a passo: você define o objetivo, escolhe a ferramenta certa e "
     "mede o resultado. Num caso real do curso de $3, isso evita retrabalho logo na primeira "
     "semana."},
    {"Não entendi direito a parte de $1 na última aula. Pode resumir?",
     "Em resumo, $1 é uma forma de organizar o raciocínio para chegar ao resultado com menos "
     "esforço e mais previsibilidade."},
    {"Qual a diferença entre $1 e $2?",
     "A principal diferença é que $1 olha para o processo, enquanto $2 olha para o resultado "
     "final. Na prática, os dois se complementam."},
    {"Tenho prova amanhã sobre $1. Quais pontos devo revisar?",
     "Para revisar $1, foque em três pontos: o conceito, um exemplo resolvido e os erros mais "
     "comuns. Refaça os exercícios do módulo e cronometre o tempo."},
    {"Como aplico $1 no meu dia a dia?",
     "Comece pequeno: escolha uma situação da sua semana e aplique $1 nela por 15 minutos, "
     "anotando onde travou."},
    {"Você pode criar três exercícios sobre $1 para eu praticar?",
     "Claro! Aqui vão:\n1) Explique $1 com suas palavras.\n2) Resolva um caso usando $1 e $2 "
     "juntos.\n3) Encontre o erro em um exemplo pronto de $1."},
    {"Estou travado em $1 há dias. Por onde começo?",
     "É normal travar aí. Volte um passo: revise $2, que é a base de $1, e depois refaça o "
     "exemplo da aula."},
    {"O professor falou de \"$1\" no vídeo 4, mas não ficou claro pra mim.",
     "No vídeo 4, \"$1\" aparece como ferramenta para decidir com dados, e não no achismo. A "
     "ideia central é medir antes de mudar."},
    {"Existe algum material extra sobre $1?",
     "Sim! Na biblioteca do curso de $3 há um PDF de apoio sobre $1 e uma planilha de "
     "exercícios. Vale começar pelo resumo de duas páginas."},
    {"Faz sentido estudar $2 antes de $1?",
     "Faz sim. Entender $2 primeiro deixa $1 bem mais intuitivo, porque você já vai reconhecer "
     "os padrões."},
};

static const char *const SCHOOL_Q_PRE[] = {
    "", "", "", "Oi! ", "Olá, tudo bem? ", "Bom dia! ", "Boa noite. ", "Professor, uma dúvida: "};
static const char *const SCHOOL_Q_POST[] = {"",
                                            "",
                                            "",
                                            " Obrigado!",
                                            " Valeu!",
                                            " Se puder, responde de forma curta.",
                                            " Preciso entregar o trabalho até sexta."};
static const char *const SCHOOL_A_PRE[] = {"",          "",    "Claro!", "Ótima pergunta.",
                                           "Vamos lá.", "Boa!"};
static const char *const SCHOOL_A_EXTRA[] = {
    "",
    "",
    "",
    "Na aula 3 do módulo 2 há um exemplo completo que vale a pena rever.",
    "Um erro comum é pular a etapa de validação, então vá com calma nessa parte.",
    "Se quiser, posso montar um exercício rápido para você praticar agora.",
    "Depois de dominar isso, $2 vai ficar bem mais fácil.",
    "Resumo: entenda o porquê antes do como.",
    "Dica: anote as dúvidas e leve para a próxima mentoria ao vivo.",
};
static const char *const SCHOOL_A_POST[] = {
    "", "", "Bons estudos!", "Qualquer dúvida, é só chamar. 🙂", "Você consegue!"};

static void text_school(tally_gen_text_req *q, tally_gen_rng *r) {
    unsigned c = q->variant % N(COURSES);
    unsigned t1 = tally_gen_below(r, 6), t2 = (t1 + 1 + tally_gen_below(r, 5)) % 6;
    const char *args[] = {COURSES[c].topics[t1], COURSES[c].topics[t2], COURSES[c].name};
    q->label = COURSES[c].name;
    const qa *p = &PICK(r, SCHOOL_QA);
    sb_cat(q->question, PICK(r, SCHOOL_Q_PRE));
    sb_fill(q->question, p->q, args, 3);
    sb_cat(q->question, PICK(r, SCHOOL_Q_POST));

    char extra[256];
    tally_gen_sb eb = {extra, 0, sizeof extra};
    sb_fill(&eb, PICK(r, SCHOOL_A_EXTRA), args, 3);
    char body[1024];
    tally_gen_sb bb = {body, 0, sizeof body};
    sb_fill(&bb, p->a, args, 3);
    const char *parts[] = {PICK(r, SCHOOL_A_PRE), body, extra, PICK(r, SCHOOL_A_POST)};
    join(q->answer, tally_gen_below(r, 5) == 0 ? "\n\n" : " ", parts, 4);
}

/* ---- 001: tutoring marketplace (lesson reports, transcriptions) ---- */

static const struct {
    const char *name, *topics[4];
} SUBJECTS[] = {
    {"Matemática", {"equações do 2º grau", "funções afins", "trigonometria", "probabilidade"}},
    {"Inglês", {"simple past", "conditionals", "listening", "vocabulário de viagem"}},
    {"Física", {"leis de Newton", "cinemática", "energia mecânica", "eletrostática"}},
    {"Química", {"estequiometria", "ligações químicas", "soluções", "termoquímica"}},
    {"Redação",
     {"estrutura dissertativa", "coesão textual", "proposta de intervenção",
      "repertório sociocultural"}},
    {"Programação", {"lógica de programação", "recursão", "arrays", "orientação a objetos"}},
    {"Biologia", {"genética mendeliana", "citologia", "ecologia", "fisiologia humana"}},
    {"História", {"Era Vargas", "Revolução Industrial", "Brasil Colônia", "Guerra Fria"}},
};

static const char *const REPORT_Q[] = {
    "Gere o relatório da aula de $1 a partir da transcrição. Inclua resumo, tópicos abordados e "
    "próximos passos.",
    "Resuma a sessão de $1 de hoje ($2 minutos) para enviar aos responsáveis do aluno.",
    "Crie um relatório curto da aula sobre $3, destacando as dificuldades do aluno.",
    "Liste os tópicos da aula de $1 e sugira um dever de casa sobre $3.",
};
static const char *const REPORT_A[] = {
    "Resumo: nesta aula de $1 ($2 minutos), o aluno revisou $3 e resolveu exercícios guiados "
    "sobre $4.\nTópicos abordados: $3; $4.\nPróximos passos: $5",
    "Relatório da aula — $1\n• Resumo: sessão focada em $3, com revisão rápida de $4.\n• "
    "Próximos passos: $5",
    "Na sessão de hoje ($2 min), trabalhamos $3 em $1. O aluno acompanhou bem a parte de $4. "
    "Para a próxima aula: $5",
};
static const char *const NEXT_STEPS[] = {
    "praticar cinco exercícios de $3 antes da próxima sessão.",
    "rever o material de $4 e anotar as dúvidas.",
    "fazer o simulado da semana e trazer as questões erradas.",
    "ler o capítulo indicado pelo tutor e escrever um resumo de uma página.",
};
static const char *const REPORT_NOTE[] = {
    "",
    "",
    "O aluno demonstrou boa evolução em relação à aula anterior.",
    "Ainda há dificuldade em interpretar enunciados longos.",
    "Participação excelente: fez ótimas perguntas.",
    "Recomendo uma aula extra de revisão.",
};
static const char *const TUTOR_LINES[] = {
    "Tutor: Então, hoje a gente vai continuar com $3.",
    "Tutor: Vamos começar revisando o que ficou da última aula.",
    "Tutor: Olha só esse exemplo, presta atenção no segundo passo.",
    "Tutor: Perfeito, é exatamente isso!",
    "Tutor: Quase lá, só faltou conferir o sinal.",
    "Tutor: Pra semana que vem, tenta fazer a lista de $4.",
};
static const char *const STUDENT_LINES[] = {
    "Aluno: Beleza, tentei fazer os exercícios mas travei no terceiro.",
    "Aluno: Não entendi por que dá esse resultado.",
    "Aluno: Ah, agora fez sentido!",
    "Aluno: Pode repetir a parte de $4?",
    "Aluno: Hum… acho que é a letra C.",
};

static void text_tutoring(tally_gen_text_req *q, tally_gen_rng *r) {
    unsigned s = tally_gen_below(r, (uint32_t)N(SUBJECTS));
    unsigned t1 = tally_gen_below(r, 4), t2 = (t1 + 1 + tally_gen_below(r, 3)) % 4;
    char minutes[8] = "50";
    minutes[0] = (char)('3' + tally_gen_below(r, 4)); /* 30–60 minutes */
    const char *args[5] = {SUBJECTS[s].name, minutes, SUBJECTS[s].topics[t1],
                           SUBJECTS[s].topics[t2], NULL};
    q->label = SUBJECTS[s].name;
    if (q->kind == TALLY_GEN_STT) { /* the transcript is the "answer" of a transcription */
        unsigned lines = 3 + tally_gen_below(r, 4);
        for (unsigned i = 0; i < lines; i++) {
            if (i) sb_cat(q->answer, i % 2 ? " " : "\n");
            const char *l = i % 2 ? PICK(r, STUDENT_LINES) : PICK(r, TUTOR_LINES);
            sb_fill(q->answer, l, args, 4);
        }
        return;
    }
    char next[256];
    tally_gen_sb nb = {next, 0, sizeof next};
    sb_fill(&nb, PICK(r, NEXT_STEPS), args, 4);
    args[4] = next;
    sb_fill(q->question, PICK(r, REPORT_Q), args, 5);
    sb_fill(q->answer, PICK(r, REPORT_A), args, 5);
    const char *note = PICK(r, REPORT_NOTE);
    if (*note) {
        sb_cat(q->answer, "\n");
        sb_cat(q->answer, note);
    }
}

/* ---- 002: IXCsoft distributors (ISP ERP staff) ---- */

static const struct {
    const char *task, *menu;
} IXC_TASKS[] = {
    {"emitir a segunda via do boleto", "Financeiro > Contas a receber"},
    {"cadastrar um novo plano de 500 Mega", "Provedor > Planos de velocidade"},
    {"bloquear um contrato inadimplente", "Financeiro > Bloqueio automático"},
    {"abrir uma ordem de serviço de instalação", "Suporte > Ordens de serviço"},
    {"gerar a remessa bancária", "Financeiro > Remessas"},
    {"configurar uma nova OLT", "Provedor > Equipamentos > OLT"},
    {"emitir a NFCom do mês", "Fiscal > Notas fiscais"},
    {"consultar o consumo de banda de um cliente", "Provedor > Gráficos de consumo"},
    {"renegociar uma fatura em atraso", "Financeiro > Renegociação"},
    {"cadastrar um técnico de campo", "Cadastros > Funcionários"},
    {"ativar a régua de cobrança por WhatsApp", "CRM > Régua de cobrança"},
    {"liberar o desbloqueio de confiança", "Financeiro > Desbloqueio de confiança"},
};

static const qa IXC_QA[] = {
    {"Como faço para $1 no IXC?",
     "Para $1, acesse $2 e clique em \"Novo\". Preencha os campos obrigatórios e salve."},
    {"Qual o caminho no sistema para $1?",
     "O caminho é $2. Lá você filtra pelo cliente ou contrato e confirma a operação."},
    {"Deu erro ao tentar $1. O que pode ser?",
     "Esse erro costuma aparecer quando o cadastro está incompleto: confira CPF/CNPJ, endereço e "
     "o vínculo com o contrato antes de tentar $1 de novo."},
    {"Preciso $1 ainda hoje. Me passa o passo a passo?",
     "Claro:\n1. Acesse $2.\n2. Localize o registro pelo código ou pelo nome.\n3. Use a ação "
     "correspondente e confirme."},
    {"Um cliente pediu para $1. Quem tem permissão para isso?",
     "Por padrão, só usuários com o perfil Financeiro ou Administrador conseguem $1. O "
     "administrador do provedor libera a permissão em Configurações > Perfis de acesso."},
    {"É possível $1 em lote?",
     "Sim. Em $2, marque os registros desejados e use Ações > Processar selecionados."},
};

static const char *const IXC_Q_PRE[] = {"", "", "Bom dia! ", "Oi, pessoal. ", "Boa tarde. "};
static const char *const IXC_A_EXTRA[] = {
    "",
    "",
    "Lembre-se de que a operação fica registrada no log de auditoria.",
    "Se o problema persistir, abra um chamado com o print da tela.",
    "Usuários sem o perfil Financeiro não veem essa opção.",
    "A alteração vale a partir do próximo ciclo de faturamento.",
};

static void text_ixc(tally_gen_text_req *q, tally_gen_rng *r) {
    unsigned t = tally_gen_below(r, (uint32_t)N(IXC_TASKS));
    const char *args[] = {IXC_TASKS[t].task, IXC_TASKS[t].menu};
    q->label = IXC_TASKS[t].menu;
    if (q->kind == TALLY_GEN_EMBEDDING) { /* a manual chunk indexed for retrieval */
        sb_fill(q->question,
                "Manual IXC Provedor — $2. Procedimento: como $1. Requisitos: "
                "permissão no módulo e cadastro do cliente completo.",
                args, 2);
        return;
    }
    const qa *p = &PICK(r, IXC_QA);
    sb_cat(q->question, PICK(r, IXC_Q_PRE));
    sb_fill(q->question, p->q, args, 2);
    sb_fill(q->answer, p->a, args, 2);
    const char *extra = PICK(r, IXC_A_EXTRA);
    if (*extra) {
        sb_cat(q->answer, " ");
        sb_cat(q->answer, extra);
    }
}

/* ---- 003: UZZ.AI WhatsApp bots of small businesses ---- */

static const struct {
    const char *kind, *services[5], *prices[5];
    qa own[2];
} BUSINESSES[] = {
    {"clinica",
     {"uma limpeza", "um clareamento", "uma avaliação para aparelho", "uma extração de siso",
      "uma restauração"},
     {"180,00", "850,00", "120,00", "450,00", "220,00"},
     {{"Quero marcar $1 para $2.",
       "Perfeito, $5! Tenho horário para $1 $2 às $6. Confirma? 🦷"},
      {"Vocês atendem convênio?",
       "Atendemos Amil Dental, OdontoPrev e SulAmérica Odonto. Traga a carteirinha no dia."}}},
    {"pizzaria",
     {"uma pizza grande de calabresa", "uma pizza meia muçarela meia portuguesa",
      "uma esfiha de carne", "um refrigerante de 2 litros", "uma borda recheada de catupiry"},
     {"59,90", "64,90", "7,50", "14,00", "12,00"},
     {{"Quero pedir $1 para entrega no bairro $3.",
       "Anotado! 🍕 $1 para o bairro $3: R$ $4 + taxa de entrega de R$ 6,00. Tempo estimado: 40 "
       "minutos."},
      {"Meu pedido está atrasado, já faz uma hora.",
       "Poxa, desculpa pela demora! 😔 Seu pedido já saiu para entrega e chega em até 15 "
       "minutos."}}},
    {"academia",
     {"o plano mensal", "uma aula experimental de crossfit", "uma avaliação física",
      "o plano anual", "uma aula de spinning"},
     {"119,90", "0,00", "60,00", "1.079,00", "35,00"},
     {{"Queria agendar $1 para $2.",
       "Show! 💪 Agendei $1 para $2 às $6. Traga roupa confortável e uma garrafinha de água."},
      {"Posso congelar meu plano por um mês?",
       "Pode sim! O congelamento é de até 30 dias por ano no plano anual. Quer que eu "
       "registre?"}}},
    {"imobiliaria",
     {"o apartamento de 2 quartos no Centro", "a casa com quintal na Vila Nova",
      "a sala comercial de 40 m²", "a kitnet perto da faculdade", "o terreno em condomínio"},
     {"420.000,00", "650.000,00", "2.300,00/mês", "1.150,00/mês", "185.000,00"},
     {{"Tenho interesse n$1. Ainda está disponível?",
       "Está disponível, sim! 🏠 O valor é R$ $4. Posso agendar uma visita para $2?"},
      {"Vocês aceitam financiamento?",
       "Aceitamos financiamento pela Caixa e pelos principais bancos. Um corretor pode simular "
       "as parcelas com você."}}},
};

unsigned tally_gen_n_businesses(void) { return (unsigned)N(BUSINESSES); }

static const qa SHOP_QA[] = {
    {"Oi, quanto custa $1?", "Olá! 😊 O valor para $1 é R$ $4. Quer que eu já deixe reservado?"},
    {"Qual o endereço de vocês?",
     "Estamos na Rua das Palmeiras, 250 — $3. Quer que eu envie a localização? 📍"},
    {"Aceitam Pix?", "Aceitamos Pix, cartão de crédito e débito. 💳"},
    {"Até que horas vocês funcionam hoje?",
     "Hoje funcionamos até as $7. Posso ajudar em mais alguma coisa?"},
    {"Pode me mandar mais detalhes sobre $1?",
     "Claro, $5! Sobre $1: é um dos nossos itens mais procurados, e o valor é R$ $4. Quer "
     "reservar?"},
};

static const char *const DAYS[] = {"amanhã de manhã", "no sábado", "hoje à tarde",
                                   "na quinta-feira", "na segunda que vem"};
static const char *const HOURS[] = {"9h", "10h30", "14h", "16h45", "19h"};
static const char *const CLOSING[] = {"18h", "20h", "22h", "23h30"};
static const char *const HOODS[] = {"Centro",           "Vila Mariana", "Boa Viagem", "Savassi",
                                    "Moinhos de Vento", "Pituba",       "Aldeota"};
static const char *const SHOP_Q_PRE[] = {"", "", "", "Boa noite! ", "Oi, tudo bem? ", "Olá! "};

static void text_whatsapp(tally_gen_text_req *q, tally_gen_rng *r) {
    unsigned b = q->variant % N(BUSINESSES), s = tally_gen_below(r, 5);
    tally_gen_person who;
    tally_gen_person_pick(r, &who);
    const char *args[] = {BUSINESSES[b].services[s], PICK(r, DAYS), PICK(r, HOODS),
                          BUSINESSES[b].prices[s],   who.first,     PICK(r, HOURS),
                          PICK(r, CLOSING)};
    q->label = BUSINESSES[b].kind;
    unsigned k = tally_gen_below(r, (uint32_t)(N(SHOP_QA) + 2));
    const qa *p = k < N(SHOP_QA) ? &SHOP_QA[k] : &BUSINESSES[b].own[k - N(SHOP_QA)];
    sb_cat(q->question, PICK(r, SHOP_Q_PRE));
    sb_fill(q->question, p->q, args, 7);
    if (q->kind == TALLY_GEN_EMBEDDING) return; /* the message, embedded for the FAQ cache */
    sb_fill(q->answer, p->a, args, 7);
}

/* ---- 004: GATTE support bot ---- */

static const struct {
    const char *intent;
    unsigned weight;
    qa pairs[2];
} INTENTS[] = {
    {"ticket_open",
     22,
     {{"O $1 parou de funcionar desde $2. Preciso abrir um chamado.",
       "Sinto muito pelo transtorno! Abri o chamado $3 com prioridade $4. Um técnico retorna em "
       "até 4 horas úteis."},
      {"Estou com erro ao acessar o $1, aparece \"acesso negado\".",
       "Entendi. Registrei o chamado $3 para o $1. Enquanto isso, tente limpar o cache do "
       "navegador e entrar de novo."}}},
    {"ticket_status",
     18,
     {{"Qual o status do chamado $3?",
       "O chamado $3 está em andamento com o técnico $5. Previsão de retorno: hoje até as 18h."},
      {"Alguma novidade sobre o meu chamado?",
       "Encontrei o chamado $3: ele está aguardando peça e a previsão é de 2 dias úteis."}}},
    {"certificate_renewal",
     14,
     {{"Meu certificado $6 vence $7. Como faço a renovação?",
       "Você pode renovar o $6 pelo nosso site ou agendar a validação por videoconferência. "
       "Quer que eu agende?"},
      {"Recebi um aviso de vencimento do $6. É seguro?",
       "Sim, o aviso é nosso. O seu $6 vence $7; a renovação leva cerca de 20 minutos."}}},
    {"appointment_schedule",
     12,
     {{"Quero agendar $8 para $2.",
       "Perfeito! Agendei $8 para $2. Você vai receber a confirmação por e-mail."},
      {"Preciso remarcar $8.",
       "Sem problemas. Tenho horários $2 ou na sexta às 10h. Qual prefere?"}}},
    {"lead_capture",
     10,
     {{"Tenho interesse no plano $9 para a minha empresa. Quanto custa?",
       "O plano $9 começa em R$ 189,00/mês. Posso pedir para um consultor entrar em contato? "
       "Qual o melhor e-mail?"},
      {"Vocês atendem empresas de fora de São Paulo?",
       "Atendemos todo o Brasil de forma remota, e temos técnicos parceiros em várias capitais."}}},
    {"service_info",
     12,
     {{"O que está incluso no $1?",
       "O $1 inclui suporte técnico, atualizações e backup diário. No plano profissional o "
       "atendimento é 24x7."},
      {"O $1 emite nota fiscal de serviço?",
       "Sim! O $1 emite NFS-e para mais de 1.500 municípios."}}},
    {"human_handoff",
     7,
     {{"Quero falar com um atendente, por favor.",
       "Claro! Estou transferindo você para um atendente humano. O tempo médio de espera agora é "
       "de 5 minutos."},
      {"Isso não resolveu. Tem alguém aí?",
       "Desculpe! Vou chamar alguém da equipe de suporte para continuar o atendimento."}}},
    {"greeting",
     5,
     {{"Bom dia!",
       "Olá! Sou o assistente virtual da GATTE. Posso ajudar com chamados, certificados "
       "digitais, agendamentos ou informações sobre nossos serviços."},
      {"Oi, tudo bem?", "Tudo ótimo! Como posso ajudar você hoje?"}}},
};

static const char *const SYSTEMS[] = {"LC Web Profissional", "emissor de notas", "sistema de PDV",
                                      "servidor de e-mails", "backup em nuvem"};
static const char *const WHEN[] = {"hoje cedo",  "ontem à noite", "a atualização de segunda",
                                   "o meio-dia", "amanhã às 9h",  "na quarta à tarde"};
static const char *const PRIORITIES[] = {"baixa", "média", "alta", "crítica"};
static const char *const CERTS[] = {"e-CNPJ A1", "e-CPF A3", "e-CNPJ A3", "e-CPF A1"};
static const char *const EXPIRES[] = {"semana que vem", "em 10 dias", "amanhã", "no fim do mês"};
static const char *const MEETINGS[] = {"uma demonstração", "um treinamento da equipe",
                                       "uma visita técnica"};
static const char *const PLANS[] = {"essencial", "profissional", "enterprise"};

static void text_support(tally_gen_text_req *q, tally_gen_rng *r) {
    unsigned total = 0, i = 0;
    for (size_t k = 0; k < N(INTENTS); k++) total += INTENTS[k].weight;
    unsigned x = tally_gen_below(r, total);
    while (x >= INTENTS[i].weight) x -= INTENTS[i++].weight;
    char protocol[24] = "GT-2026-00000";
    for (int d = 12; d >= 8; d--) protocol[d] = (char)('0' + tally_gen_below(r, 10));
    tally_gen_person tech;
    tally_gen_person_pick(r, &tech);
    const char *args[] = {PICK(r, SYSTEMS),    PICK(r, WHEN),     protocol,
                          PICK(r, PRIORITIES), tech.first,        PICK(r, CERTS),
                          PICK(r, EXPIRES),    PICK(r, MEETINGS), PICK(r, PLANS)};
    q->intent = INTENTS[i].intent;
    q->label = args[0];
    const qa *p = &INTENTS[i].pairs[tally_gen_below(r, 2)];
    sb_fill(q->question, p->q, args, 9);
    sb_fill(q->answer, p->a, args, 9);
}

void tally_gen_text(tally_gen_text_req *q, tally_gen_rng *r) {
    q->intent = NULL;
    q->label = NULL;
    switch (q->shape) {
    case TALLY_GEN_SCHOOL: text_school(q, r); break;
    case TALLY_GEN_TUTORING: text_tutoring(q, r); break;
    case TALLY_GEN_IXC: text_ixc(q, r); break;
    case TALLY_GEN_WHATSAPP: text_whatsapp(q, r); break;
    default: text_support(q, r); break;
    }
}
